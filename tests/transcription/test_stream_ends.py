"""What was transcribed is said (issue 24 items 3 and 5): a recording whose streams end before the length it declares
is transcribed as far as it goes and marked so in NAME.json and the summary; a video shorter than its --audio gets one
note, not one per segment; a mouth clip passed as a face video is decoded from audio with a warning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avhubert_ami.data.audio import write_audio
from avhubert_ami.data.video import write_video
from avhubert_ami.testing.recordings import speech_with_pauses, write_av
from tests.support.training import trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")

PAUSES, LENGTHS = [0.5, 1.0, 0.8], [40, 40, 30]  # three utterances in 7.7 s


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(trained_checkpoint(tmp_path_factory) / "checkpoints" / "checkpoint_best.pt")


@pytest.fixture(scope="module")
def transcriber(ckpt):
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.transcribe import Transcriber

    return Transcriber.from_checkpoint(ckpt, SearchSettings(beam=1), device="cpu")


def test_a_truncated_recording_is_transcribed_as_far_as_it_goes_and_said_so(ckpt, tmp_path, capsys):
    from avhubert_ami.cli.transcribe import main

    wave, lips, _ = speech_with_pauses(PAUSES, LENGTHS)
    full = write_av(str(tmp_path / "full.mkv"), np.repeat(lips[..., None], 3, axis=3), 25.0, wave)
    data = open(full, "rb").read()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 3])  # the header still declares 7.68 s
    out = tmp_path / "out"
    argv = ["--path", ckpt, str(tmp_path / "cut.mkv"), "--lip_video", "--output_dir", str(out), "--cpu"]
    assert main([*argv, "--beam", "1"]) == 0
    report = capsys.readouterr().out
    doc = json.loads((out / "cut.json").read_text())
    assert doc["media_s"] == pytest.approx(len(wave) / 16000, abs=0.05)
    assert doc["complete"] is False and 1.0 < doc["decoded_s"] < doc["media_s"] / 2
    assert doc["ended_early"]["audio"] == {"ends_s": doc["decoded_s"], "declared_s": doc["media_s"]}
    assert any(f"the audio stream ends at {doc['decoded_s']:.2f} s of the" in n for n in doc["notes"])
    assert "ENDED EARLY 1 file(s)" in report and f"cut.mkv: audio ends at {doc['decoded_s']:.2f} of" in report
    assert all(s["end"] <= doc["decoded_s"] + 0.05 for s in doc["segments"])


def test_a_lip_clip_shorter_than_its_audio_gets_one_note(transcriber, tmp_path):
    wave, lips, bounds = speech_with_pauses(PAUSES, LENGTHS)
    write_audio(str(tmp_path / "a.wav"), wave)
    write_video(str(tmp_path / "lips.mkv"), lips[: int(bounds[0][1] * 25) + 5])  # ends after utterance 1
    notes = []
    segs = transcriber.transcribe(
        video=str(tmp_path / "lips.mkv"), audio=str(tmp_path / "a.wav"), lip_video=True, notes=notes
    )
    assert [s.modalities for s in segs] == [["audio", "video"], ["audio"], ["audio"]]
    assert all(s.note == "after the end of the video: decoded without video" for s in segs[1:])
    ends = (int(bounds[0][1] * 25) + 5) / 25
    assert notes == [
        f"lips.mkv: the video ends at {ends:.2f} s, the audio at 7.68 s: 2 segment(s) after {ends:.2f} s "
        "decoded from audio alone"
    ]
    assert transcriber.stats.decoded_s == pytest.approx(7.68) and transcriber.stats.ended_early == {}


def test_a_face_video_shorter_than_its_audio_is_not_searched_for_faces_after_its_end(transcriber, tmp_path):
    pytest.importorskip("mediapipe")
    pytest.importorskip("skimage")
    from avhubert_ami.testing.media import astronaut_frames

    wave, _, bounds = speech_with_pauses(PAUSES, LENGTHS)
    write_audio(str(tmp_path / "a.wav"), wave)
    rgb, _ = astronaut_frames(int(bounds[0][1] * 25) + 5, zoom=0.6)
    face = write_av(str(tmp_path / "face.mkv"), rgb, 25.0, None)
    notes = []
    segs = transcriber.transcribe(video=face, audio=str(tmp_path / "a.wav"), notes=notes)
    assert [s.modalities for s in segs] == [["audio", "video"], ["audio"], ["audio"]]
    assert len(notes) == 1 and "face.mkv: the video ends at" in notes[0] and "no face" not in " ".join(notes)


def test_a_mouth_clip_passed_as_a_face_video_warns(transcriber, tmp_path, caplog):
    wave, lips, _ = speech_with_pauses([0.5], [40])
    path = write_av(str(tmp_path / "mouth.mkv"), np.repeat(lips[..., None], 3, axis=3), 25.0, wave)
    notes = []
    with caplog.at_level("WARNING"):
        segs = transcriber.transcribe(video=path, notes=notes)  # lip_video=True forgotten
    assert segs and all(s.modalities == ["audio"] for s in segs)
    warning = "mouth.mkv: no face found in any segment: decoded from its audio alone (a ready-made mouth clip?"
    assert warning in caplog.text and any(warning in n for n in notes)
