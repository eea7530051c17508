"""Bad meeting input (issue 22 §8): cameras of other frame rates or lengths are aligned by time with a note, a
participant who never speaks gets no segments, a missing or corrupt camera or headset falls back with the fallback
named in the notes."""

import os

import numpy as np
import pytest

from avhubert_ami.meeting.formats import write_meeting
from avhubert_ami.meeting.sources import ami_meeting, explicit_meeting

MEETING = "ES2004a"


def _frames(path):
    from avhubert_ami.data.video import read_video

    return read_video(path)


def test_cameras_of_other_frame_rates_and_lengths_are_aligned_by_time(media, drawn, transcribe, covered, tmp_path):
    """A's camera at 30 fps, B's ending at 20 s: A's lips still line up with A's voice; B is decoded without video
    after B's camera ends; both say so in their notes."""
    from avhubert_ami.data.video import write_video

    names = sorted(media)
    a, b = names[:2]
    orig = _frames(media[a][0])
    thirty = orig[np.minimum((np.arange(int(len(orig) * 30 / 25)) * 25 / 30 + 1e-6).astype(int), len(orig) - 1)]
    write_video(str(tmp_path / "a30.mkv"), thirty, fps=30.0)
    write_video(str(tmp_path / "b20.mkv"), _frames(media[b][0])[: 20 * 25], fps=25.0)
    videos = {a: str(tmp_path / "a30.mkv"), b: str(tmp_path / "b20.mkv")}
    people = [(n, videos.get(n, media[n][0]), media[n][1]) for n in names]
    result = transcribe(explicit_meeting(MEETING, people, lip_video=True))
    report = {p.name: p for p in result.participants}
    assert any("camera at 30 fps" in x for x in report[a].notes)
    assert any("camera covers 20.0 s of the 30.0 s meeting" in x for x in report[b].notes)
    truth = drawn["truth"]
    n = len(truth[a])
    for name in (a, b):
        mine = [s for s in result.segments if s.speaker == name]
        assert covered(mine, n)[truth[name]].mean() >= 0.9, name  # activity on time despite the camera
        others = np.any([truth[o] for o in names if o != name], axis=0) & ~truth[name]
        assert covered(mine, n)[others].mean() <= 0.05, name
    late = [s for s in result.segments if s.speaker == b and s.start_time >= 20.0]
    early = [s for s in result.segments if s.speaker == b and s.end_time <= 19.5]
    assert late and all(
        s.extras["modalities"] == ["audio"] and "decoded without video" in s.extras["note"] for s in late
    )
    assert early and all(s.extras["modalities"] == ["audio", "video"] for s in early)


def test_a_participant_who_never_speaks_gets_no_segments(tmp_path, transcribe):
    pytest.importorskip("pyroomacoustics")
    from avhubert_ami.meeting.formats import read_seglst
    from avhubert_ami.synth.meeting import MeetingConfig, generate_meetings

    cfg = MeetingConfig(seed=3, seconds=12.0, n_participants=3, talkativeness=(1.0, 1.0, 0.0), workers=2)
    (meeting_id,) = generate_meetings(str(tmp_path), cfg)
    quiet = read_seglst(str(tmp_path / f"{meeting_id}.seglst.json"))
    speakers = {s.speaker for s in quiet}
    result = transcribe(ami_meeting(str(tmp_path), meeting_id, lip_video=True))
    silent = [p for p in result.participants if p.name not in speakers]
    assert len(silent) == 1 and len(speakers) == 2  # the generator kept the third one quiet; others do speak
    assert silent[0].segments == 0 and any("no speech detected" in x for x in silent[0].notes)
    assert {s.speaker for s in result.segments} == speakers  # their crosstalk gave the quiet one nothing
    paths = write_meeting(str(tmp_path / "out"), meeting_id, result.segments, meta=result.meta())
    assert all(os.path.isfile(p) for p in paths)


def test_missing_or_corrupt_cameras_and_headsets_fall_back_with_a_note(ami_dir, linked_copy, transcribe, tmp_path):
    root = linked_copy(str(ami_dir), str(tmp_path / "ami"))
    meeting = ami_meeting(root, MEETING, lip_video=True)
    missing, garbled, corrupt_cam, truncated = meeting.participants
    os.unlink(missing.video)
    for path in (garbled.headset, corrupt_cam.video):
        os.unlink(path)
        with open(path, "wb") as f:
            f.write(b"not a recording " * 500)
    data = open(os.readlink(truncated.video) if os.path.islink(truncated.video) else truncated.video, "rb").read()
    os.unlink(truncated.video)
    with open(truncated.video, "wb") as f:
        f.write(data[: len(data) // 2])

    meeting = ami_meeting(root, MEETING, lip_video=True)
    assert meeting.participants[0].video is None and any("camera" in n and "not found" in n for n in meeting.notes)
    result = transcribe(meeting)
    report = {p.name: p for p in result.participants}
    by = {p.name: [s for s in result.segments if s.speaker == p.name] for p in result.participants}

    r = report[missing.name]
    assert r.video is None and r.cues == ["headset"] and any("no camera" in n for n in r.notes)
    assert by[missing.name] and all(s.extras["modalities"] == ["audio"] for s in by[missing.name])

    r = report[garbled.name]
    assert any(n.startswith("headset unreadable") for n in r.notes)
    assert any("no usable headset: room microphone used" in n for n in r.notes)
    assert r.audio_source == "room" and r.cues == ["lips", "room"]
    assert all(s.extras["audio_source"] == "room" and "video" in s.extras["modalities"] for s in by[garbled.name])

    r = report[corrupt_cam.name]
    assert r.video is None and any(n.startswith("camera unreadable") for n in r.notes) and r.cues == ["headset"]
    assert all(s.extras["modalities"] == ["audio"] for s in by[corrupt_cam.name])

    r = report[truncated.name]
    assert any("camera covers" in n or "breaks off" in n for n in r.notes), r.notes
    assert any(s.extras["modalities"] == ["audio"] for s in by[truncated.name])
    # the others' notes stay clean: one participant's bad file is nobody else's problem
    assert all(by[name] for name in by)
