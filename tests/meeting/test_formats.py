"""Meeting transcript formats (avhubert_ami.meeting.formats): exact writer output on a hand-written meeting,
round trips through SegLST/RTTM/STM, errors naming FILE:LINE, and references of another meeting refused."""

from __future__ import annotations

import json
import os

import pytest

from avhubert_ami.meeting.formats import (
    FORMATS,
    MeetingSegment,
    check_same_meeting,
    parse_formats,
    read_rttm,
    read_seglst,
    read_segments,
    read_stm,
    speaker_turns,
    to_json,
    to_rttm,
    to_srt,
    to_stm,
    to_txt,
    to_vtt,
    write_meeting,
)
from avhubert_ami.transcribe.writers import clock


def _seg(spk, start, end, words="", sid="ES2002a", **extras):
    return MeetingSegment(sid, spk, start, end, words, extras)


# Out of time order on purpose; B overlaps A (62.5-64.0), A has two touching segments (1.0-2.5-3.25) and an
# empty one, MEE006's words span two lines.
MEETING = [
    _seg("FEE005", 62.5, 64.0, "yeah <right> & more"),
    _seg("MEE006", 1.0, 2.5, "so let's\nstart"),
    _seg("MEE006", 2.5, 3.25, "the meeting"),
    _seg("MEE006", 61.0, 63.2, "okay"),
    _seg("MEE006", 70.0, 70.0, ""),
]


def test_rttm_merges_each_speakers_segments_into_turns_with_3_decimals():
    assert to_rttm(MEETING) == (
        "SPEAKER ES2002a 1 1.000 2.250 <NA> <NA> MEE006 <NA> <NA>\n"
        "SPEAKER ES2002a 1 61.000 2.200 <NA> <NA> MEE006 <NA> <NA>\n"
        "SPEAKER ES2002a 1 62.500 1.500 <NA> <NA> FEE005 <NA> <NA>\n"
    )  # the zero-length segment at 70 s is no activity
    # a gap of 0.5 s is bridged when asked
    gap = [_seg("A", 0.0, 1.0), _seg("A", 1.5, 2.0), _seg("A", 3.0, 4.0)]
    assert [(t.start_time, t.end_time) for t in speaker_turns(gap, merge_gap=0.5)] == [(0.0, 2.0), (3.0, 4.0)]


def test_stm_is_sorted_by_start_time_one_line_per_segment():
    assert to_stm(MEETING) == (
        "ES2002a 1 MEE006 1.000 2.500 so let's start\n"
        "ES2002a 1 MEE006 2.500 3.250 the meeting\n"
        "ES2002a 1 MEE006 61.000 63.200 okay\n"
        "ES2002a 1 FEE005 62.500 64.000 yeah <right> & more\n"
        "ES2002a 1 MEE006 70.000 70.000\n"
    )


def test_srt_and_vtt_cues_carry_the_speaker():
    assert to_srt(MEETING) == (
        "1\n00:00:01,000 --> 00:00:02,500\nMEE006: so let's start\n\n"
        "2\n00:00:02,500 --> 00:00:03,250\nMEE006: the meeting\n\n"
        "3\n00:01:01,000 --> 00:01:03,200\nMEE006: okay\n\n"
        "4\n00:01:02,500 --> 00:01:04,000\nFEE005: yeah <right> & more\n"
    )
    assert to_vtt(MEETING) == (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:02.500\n<v MEE006>so let's start\n\n"
        "00:00:02.500 --> 00:00:03.250\n<v MEE006>the meeting\n\n"
        "00:01:01.000 --> 00:01:03.200\n<v MEE006>okay\n\n"
        "00:01:02.500 --> 00:01:04.000\n<v FEE005>yeah &lt;right&gt; &amp; more\n"
    )


def test_txt_for_people():
    assert to_txt(MEETING) == (
        "[00:00:01] MEE006: so let's start\n"
        "[00:00:02] MEE006: the meeting\n"
        "[00:01:01] MEE006: okay\n"
        "[00:01:02] FEE005: yeah <right> & more\n"
    )


def test_clock():
    assert clock(3723.456) == "01:02:03" and clock(59.9996) == "00:01:00"
    assert clock(3723.456, ",") == "01:02:03,456" and clock(0.0004, ".") == "00:00:00.000"


def test_seglst_round_trip_and_json_keeps_extras(tmp_path):
    segs = MEETING + [_seg("FEE005", 80.0, 81.123456, "done", confidence=-0.25, modalities=["audio", "video"])]
    paths = write_meeting(str(tmp_path), "ES2002a", segs, FORMATS, meta={"model": "ckpt.pt"})
    assert sorted(os.path.basename(p) for p in paths) == sorted(
        "ES2002a" + e for e in (".seglst.json", ".rttm", ".stm", ".srt", ".vtt", ".txt", ".json")
    )
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temporaries left behind

    doc = json.loads((tmp_path / "ES2002a.seglst.json").read_text())
    assert all(list(d) == ["session_id", "speaker", "start_time", "end_time", "words"] for d in doc)
    assert doc[-1]["end_time"] == 81.123  # milliseconds
    back = read_seglst(str(tmp_path / "ES2002a.seglst.json"))
    want = sorted(segs, key=lambda s: (s.start_time, s.end_time, s.speaker))
    assert [(s.speaker, s.start_time, s.words) for s in back] == [(s.speaker, s.start_time, s.words) for s in want]
    assert all(s.extras == {} for s in back)

    rich = json.loads((tmp_path / "ES2002a.json").read_text())
    assert rich["model"] == "ckpt.pt" and rich["segments"][-1]["modalities"] == ["audio", "video"]
    assert read_seglst(str(tmp_path / "ES2002a.json"))[-1].extras == {
        "confidence": -0.25,
        "modalities": ["audio", "video"],
    }
    assert json.loads(to_json(segs))["segments"][0]["speaker"] == "MEE006"


def test_stm_and_rttm_round_trip(tmp_path):
    write_meeting(str(tmp_path), "ES2002a", MEETING, ["stm", "rttm"])
    stm = read_segments(str(tmp_path / "ES2002a.stm"))
    assert [(s.speaker, s.start_time, s.end_time, s.words) for s in stm] == [
        ("MEE006", 1.0, 2.5, "so let's start"),
        ("MEE006", 2.5, 3.25, "the meeting"),
        ("MEE006", 61.0, 63.2, "okay"),
        ("FEE005", 62.5, 64.0, "yeah <right> & more"),
        ("MEE006", 70.0, 70.0, ""),
    ]
    rttm = read_segments(str(tmp_path / "ES2002a.rttm"))
    assert [(s.session_id, s.speaker, s.start_time, s.end_time, s.words) for s in rttm] == [
        ("ES2002a", "MEE006", 1.0, 3.25, ""),
        ("ES2002a", "MEE006", 61.0, 63.2, ""),
        ("ES2002a", "FEE005", 62.5, 64.0, ""),
    ]
    assert to_rttm(rttm) == (tmp_path / "ES2002a.rttm").read_text()


def test_readers_accept_nist_variants(tmp_path):
    stm = tmp_path / "ref.stm"
    stm.write_text(";; comment\nES2002a A MEE006 1.5 2 <O,F0,M> hello there\n\nES2002a 1 FEE005 3 4\n")
    assert [(s.speaker, s.words) for s in read_stm(str(stm))] == [("MEE006", "hello there"), ("FEE005", "")]
    rttm = tmp_path / "ref.rttm"
    rttm.write_text(
        "SPKR-INFO ES2002a 1 <NA> <NA> <NA> unknown A <NA> <NA>\nSPEAKER ES2002a 1 0.5 1.25 <NA> <NA> A <NA>\n"
    )
    assert [(s.speaker, s.start_time, s.end_time) for s in read_rttm(str(rttm))] == [("A", 0.5, 1.75)]
    chime = tmp_path / "chime.json"  # CHiME-7 writes times as strings
    chime.write_text(
        '[{"session_id": "S02", "speaker": "P05", "start_time": "11.370", "end_time": "12.1", "words": "hi"}]'
    )
    assert read_seglst(str(chime))[0].start_time == 11.37


@pytest.mark.parametrize(
    "name, text, message",
    [
        (
            "bad.rttm",
            "SPEAKER ES2002a 1 0.0 1.0 <NA> <NA> A <NA> <NA>\nSPEAKER ES2002a 1 2.0 <NA> <NA> B\n",
            ":2: an RTTM",
        ),
        ("bad.rttm", "\nSPEAKER ES2002a 1 zero 1.0 <NA> <NA> A <NA> <NA>\n", ":2: start time must be a number"),
        ("bad.rttm", "SPEAKER ES2002a 1 1.0 -1.0 <NA> <NA> A <NA> <NA>\n", ":1: negative duration"),
        ("bad.rttm", "ES2002a 1 A 0.0 1.0 hello\n", ":1: not an RTTM line"),
        ("bad.stm", "ES2002a 1 A 0.0 1.0 ok\nES2002a 1 A 0.0\n", ":2: an STM line has at least 5 fields"),
        ("bad.stm", "ES2002a 1 A 2.0 1.0 ends before it starts\n", ":1: need 0 <= start_time <= end_time"),
        ("bad.json", '[\n{"session_id": "X",\n "speaker": }\n]', ":3: not valid JSON"),
        (
            "bad.json",
            '[{"session_id": "X", "speaker": "A", "start_time": 0, "words": ""}]',
            ": segment 1: missing end_time",
        ),
        ("bad.json", '{"session_id": "X"}', ": SegLST must be a JSON list"),
        (
            "bad.json",
            '[{"session_id": "X", "speaker": "A", "start_time": "a", "end_time": 1, "words": ""}]',
            "start_time must be a number",
        ),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        read_segments(str(path))
    assert str(err.value).startswith(str(path)) and message in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_references_of_another_meeting_are_refused():
    check_same_meeting(MEETING, "ES2002a")  # the same meeting passes
    with pytest.raises(ValueError) as err:
        check_same_meeting(MEETING + [_seg("A", 0, 1, "hi", sid="ES2002b")], "ES2002a", source="ref.stm")
    assert str(err.value) == "ref.stm: references of meeting ES2002b, not of ES2002a; pass ES2002a's references"


def test_writers_refuse_names_rttm_and_stm_cannot_hold(tmp_path):
    segs = [_seg("Project Manager", 0, 1, "hi")]
    with pytest.raises(ValueError, match="'Project Manager' contains whitespace"):
        write_meeting(str(tmp_path), "ES2002a", segs, ["seglst", "stm"])
    assert os.listdir(tmp_path) == []  # nothing written: every text is built before the first file
    with pytest.raises(ValueError, match="start_time <= end_time"):
        _seg("A", 2.0, 1.0)
    with pytest.raises(ValueError, match="unknown format"):
        parse_formats("seglst,ctm")
    assert parse_formats("rttm, STM,rttm") == ["rttm", "stm"]
