"""``avhubert-transcribe-meeting`` end to end (issue 22 §1, §4, §9): a generated AMI-layout meeting through the command
line -- every output format written and readable, speakers named as in meetings.xml, scores against the generated
references -- and the command line's refusals, each one line with exit status 2."""

import json

import pytest

from avhubert_ami.cli.transcribe_meeting import main
from avhubert_ami.meeting.formats import read_rttm, read_seglst, read_stm

MEETING = "ES2004a"


def test_an_ami_meeting_end_to_end(ami_dir, ckpt, drawn, fast_search, single_thread, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--path", ckpt, "--output_dir", str(out), "--ami_dir", str(ami_dir), "--meeting", MEETING, "--lip_video"]
    assert main(argv + ["--references", "ami", *fast_search]) == 0
    printed = capsys.readouterr().out
    names = {p["name"] for p in drawn["participants"]}  # meetings.xml's global names
    files = {fmt: out / f"{MEETING}{ext}" for fmt, ext in (("seglst", ".seglst.json"), ("rttm", ".rttm"))}
    seglst, rttm = read_seglst(str(files["seglst"])), read_rttm(str(files["rttm"]))
    stm = read_stm(str(out / f"{MEETING}.stm"))
    assert {s.speaker for s in seglst} == {s.speaker for s in rttm} == {s.speaker for s in stm} == names
    assert {s.session_id for s in seglst + rttm + stm} == {MEETING}
    assert len(stm) == len(seglst) and [s.start_time for s in seglst] == sorted(s.start_time for s in seglst)
    spoken = [s for s in seglst if s.words]
    txt = (out / f"{MEETING}.txt").read_text().splitlines()
    assert len(txt) == len(spoken) and all(line.split("] ", 1)[1].split(":")[0] in names for line in txt)
    assert (out / f"{MEETING}.srt").read_text().count(" --> ") == len(spoken)
    assert (out / f"{MEETING}.vtt").read_text().startswith("WEBVTT")

    doc = json.loads((out / f"{MEETING}.json").read_text())
    assert doc["session_id"] == MEETING and doc["audio_source"] == "headset" and doc["model"] == ckpt
    assert doc["decoding"]["beam"] == 1 and doc["activity"]["mode"] == "av" and doc["lip_video"] is True
    assert set(doc["rtf"]) == {"audio", "roi", "activity", "decoding", "total"} and doc["rtf"]["total"] > 0
    assert doc["duration_s"] == pytest.approx(30.0, abs=0.05)
    assert [p["name"] for p in doc["participants"]] == sorted(names, key=lambda n: _agent(drawn, n))
    for seg in doc["segments"]:
        assert seg["modalities"] == ["audio", "video"] and seg["audio_source"] == "headset"
        assert f"Closeup{_camera(drawn, seg['speaker'])}." in seg["video_file"]

    scores = doc["scores"]
    assert scores["normalizer"] == "basic" and scores["references"] == "ami"
    reference = read_seglst(str(ami_dir / f"{MEETING}.seglst.json"))  # the generator's own reference
    n_words = sum(len(s.words.split()) for s in reference)
    cp, tcp, der = scores["cpwer"], scores["tcpwer"], scores["der"]
    assert cp["reference_words"] == tcp["reference_words"] == n_words and tcp["collar"] == 5.0
    assert cp["hypothesis_words"] == sum(len(s.words.split()) for s in seglst)
    assert {r["reference_speaker"] for r in cp["per_speaker"]} == names and cp["error_rate"] is not None
    assert der["collar"] == 0.25 and der["mapping"] == {n: n for n in names}  # activity: each one is themselves
    assert der["der"] < 0.2  # measured 0.000 on this meeting
    assert "cpWER" in printed and "tcpWER" in printed and "DER" in printed and "basic normaliser" in printed
    assert "real-time factor" in printed and json.loads(printed.strip().splitlines()[-1])["der"] == der["der"]


def _agent(drawn, name):
    return next(p["agent"] for p in drawn["participants"] if p["name"] == name)


def _camera(drawn, name):
    return next(p["camera"] for p in drawn["participants"] if p["name"] == name)


def test_participants_one_by_one_with_the_room_channel(ami_dir, ckpt, media, fast_search, single_thread, tmp_path):
    """``--participant NAME VIDEO AUDIO`` (``-``: no headset) and ``--room_audio``: everyone from the room by default;
    ``--audio_source headset`` keeps the headsets and gives the room to the one without."""
    room = str(ami_dir / "amicorpus" / MEETING / "audio" / f"{MEETING}.Array1-01.wav")
    names = sorted(media)
    people = [x for n in names for x in ("--participant", n, media[n][0], media[n][1] if n != names[0] else "-")]
    base = ["--path", ckpt, "--lip_video", "--room_audio", room, "--meeting_id", MEETING, "--format", "json"]
    for source, out in ((None, tmp_path / "room"), ("headset", tmp_path / "headset")):
        flags = [] if source is None else ["--audio_source", source]
        assert main(base + people + flags + ["--output_dir", str(out), *fast_search]) == 0
        doc = json.loads((out / f"{MEETING}.json").read_text())
        used = {p["name"]: p["audio_source"] for p in doc["participants"]}
        if source is None:
            assert doc["audio_source"] == "room" and set(used.values()) == {"room"}
        else:
            assert used == {n: "room" if n == names[0] else "headset" for n in names}
            assert any("no usable headset: room microphone used" in x for x in doc["participants"][0]["notes"])
        assert {s["speaker"] for s in doc["segments"]} == set(names)


# ---- refusals ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--participant", "A", "v.avi", "a.wav"], "not both"),
        ([], "needs --meeting"),
        (["--meeting", "ES2004a", "--room_audio", "r.wav"], "--room_audio goes with --participant"),
        (["--meeting", "ES2004a", "--modalities", "smell"], "--modalities"),
        (["--meeting", "ES2004a", "--format", "doc"], "unknown format"),
        (["--meeting", "ES2004a", "--segments", "nope.rttm"], "--segments nope.rttm: no such file"),
        (["--meeting", "ES2004b"], "--meeting ES2004b: no folder"),
    ],
)
def test_contradictory_or_incomplete_flags_are_one_line(ami_dir, cli_error, tmp_path, extra, message):
    rc, line = cli_error(main, ["--path", "x.pt", "--output_dir", str(tmp_path), "--ami_dir", str(ami_dir), *extra])
    assert rc == 2 and line.startswith("avhubert-transcribe-meeting: error: ") and message in line, line


def test_participant_flags_are_checked(cli_error, tmp_path):
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    base = ["--path", "x.pt", "--output_dir", str(tmp_path)]
    for extra, message in (
        ([], "nothing to transcribe"),
        (["--participant", "A", "-", str(wav), "--references", "ami"], "--references ami reads the AMI annotations"),
        (["--participant", "A", "-", str(wav), "--audio_source", "mix"], "--audio_source mix"),
        (["--participant", "A", "-", str(wav), "--audio_source", "room"], "needs --room_audio"),
        (["--participant", "A", "-", str(tmp_path / "b.wav")], "AUDIO " + str(tmp_path / "b.wav") + ": no such file"),
        (["--participant", "A", "-", str(wav)] * 2, "A given twice"),
        (["--participant", "A", "-", str(wav), "--meeting_id", "two words"], "one word"),
    ):
        rc, line = cli_error(main, base + extra)
        assert rc == 2 and message in line, (extra, line)


def test_a_participant_count_that_disagrees_with_meetings_xml_is_one_error(ami_dir, linked_copy, cli_error, tmp_path):
    """A fifth close-up (or headset) that meetings.xml maps to nobody: the participant list would be wrong."""
    import shutil

    root = linked_copy(str(ami_dir), str(tmp_path / "ami"))
    video = tmp_path / "ami" / "amicorpus" / MEETING / "video"
    shutil.copy(video / f"{MEETING}.Closeup1.avi", video / f"{MEETING}.Closeup5.avi")
    argv = ["--path", "x.pt", "--output_dir", str(tmp_path / "out"), "--ami_dir", root, "--meeting", MEETING]
    rc, line = cli_error(main, argv)
    assert rc == 2 and "has 4 participant(s)" in line and "ES2004a.Closeup5.avi" in line
    assert "disagrees with meetings.xml" in line
    (video / f"{MEETING}.Closeup5.avi").unlink()
    audio = tmp_path / "ami" / "amicorpus" / MEETING / "audio"
    shutil.copy(audio / f"{MEETING}.Headset-0.wav", audio / f"{MEETING}.Headset-4.wav")
    rc, line = cli_error(main, argv)
    assert rc == 2 and "ES2004a.Headset-4.wav" in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["seglst", "rttm", "stm"])
def test_references_of_another_meeting_are_one_error(ami_dir, cli_error, tmp_path, fmt):
    from avhubert_ami.meeting.formats import write_meeting

    reference = read_seglst(str(ami_dir / f"{MEETING}.seglst.json"))
    for s in reference[3:]:
        s.session_id = "ES2004b"
    ref = write_meeting(str(tmp_path), "ref", reference, [fmt])[0]
    argv = ["--path", "x.pt", "--output_dir", str(tmp_path / "out"), "--ami_dir", str(ami_dir), "--meeting", MEETING]
    rc, line = cli_error(main, argv + ["--references", ref])
    assert rc == 2 and "references of meeting ES2004b, not of ES2004a" in line and ref in line
    assert not (tmp_path / "out").exists()  # refused before the model is loaded or anything written


def test_an_empty_meeting_gives_empty_outputs_and_a_note(ckpt, fast_search, single_thread, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    for name in ("a", "b"):
        sf.write(str(tmp_path / f"{name}.wav"), np.zeros(0, np.float32), 16000)
    people = ["--participant", "A", "-", str(tmp_path / "a.wav"), "--participant", "B", "-", str(tmp_path / "b.wav")]
    out = tmp_path / "out"
    assert main(["--path", ckpt, "--output_dir", str(out), "--meeting_id", "M1", *people, *fast_search]) == 0
    assert read_seglst(str(out / "M1.seglst.json")) == [] and (out / "M1.rttm").read_text() == ""
    assert (out / "M1.txt").read_text() == "" and (out / "M1.stm").read_text() == ""
    doc = json.loads((out / "M1.json").read_text())
    assert doc["segments"] == [] and any("empty" in n for n in doc["notes"])
    assert "empty" in capsys.readouterr().out
