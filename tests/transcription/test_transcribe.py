"""avhubert-transcribe: VAD segmentation, stitching, outputs, per-segment modality fallback, long-form decoding
against per-utterance decoding, and bad inputs. Media are generated (tones + blob lips, a face photo bundled in
scikit-image); the model is the tiny checkpoint trained once per session (tests/support/training.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from avhubert_ami.data.audio import write_audio
from avhubert_ami.data.video import write_video
from avhubert_ami.testing.recordings import speech_with_pauses, write_av
from avhubert_ami.transcribe.segments import Segment, overlap_words, stitch
from avhubert_ami.transcribe.vad import VadConfig, fixed_windows, frame_activity, speech_segments, split_at_quietest
from avhubert_ami.transcribe.writers import to_srt, to_vtt
from tests.support.training import trained_checkpoint

pytest.importorskip("webrtcvad")

PAUSES, LENGTHS = [0.5, 1.2, 0.6, 2.0], [30, 45, 25, 60]


def _vad(wave, cfg=None):
    pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
    speech, energy = frame_activity([pcm[i : i + 7000] for i in range(0, len(pcm), 7000)])  # odd block size
    return speech_segments(speech, energy, cfg or VadConfig())


# ---- segmentation, stitching, writers (no model) -----------------------------------------------------------
def test_vad_finds_each_utterance_within_0p3s():
    wave, _, bounds = speech_with_pauses(PAUSES, LENGTHS)
    segs = _vad(wave)
    assert len(segs) == len(bounds), segs
    for (s, e), (ts, te) in zip(segs, bounds):
        assert abs(s - ts) <= 0.3 and abs(e - te) <= 0.3, (segs, bounds)
        assert round(s / 0.04, 6).is_integer() and round(e / 0.04, 6).is_integer()  # 25 fps grid


def test_vad_short_pauses_stay_inside_a_segment_and_silence_gives_none():
    wave, _, bounds = speech_with_pauses([0.5, 0.2], [30, 30])  # 0.2 s < min_silence_s
    segs = _vad(wave)
    assert len(segs) == 1 and segs[0][0] <= bounds[0][0] + 0.3 and segs[0][1] >= bounds[1][1] - 0.3
    assert _vad(np.zeros(16000 * 3, np.float32)) == []


def test_long_speech_is_split_at_the_quietest_point_under_the_cap():
    wave, _, bounds = speech_with_pauses([0.5, 0.3, 0.3], [100, 100, 100])  # one 13 s run with two dips
    segs = _vad(wave, VadConfig(max_segment_s=6.0))
    assert all(e - s <= 6.0 + 1e-6 for s, e in segs) and len(segs) >= 3
    cuts = [e for (_, e), (s2, _) in zip(segs, segs[1:])]
    pauses = [(bounds[i][1], bounds[i + 1][0]) for i in range(2)]
    assert all(any(a - 0.1 <= c <= b + 0.1 for a, b in pauses) for c in cuts), (cuts, pauses)
    # a run without a dip is still cut into pieces under the cap
    pieces = split_at_quietest(0, 1000, np.ones(1000, np.float32), 300)
    assert pieces[0][0] == 0 and pieces[-1][1] == 1000 and all(b - a <= 300 for a, b in pieces)


def test_fixed_windows_cover_with_overlap():
    w = fixed_windows(25.0, 10.0, 1.0)
    assert w[0] == (0.0, 10.0) and w[1][0] == 9.0 and w[-1][1] >= 25.0
    assert fixed_windows(0.0, 10.0, 1.0) == []


def test_stitch_orders_segments_and_drops_repeated_words():
    segs = [Segment(9.0, 19.0, "c d e f", ["video"]), Segment(0.0, 10.0, "a b c d", ["video"])]
    out = stitch(segs, max_overlap_words=4)
    assert [s.text for s in out] == ["a b c d", "e f"]
    assert out[0].end == out[1].start == 9.5  # shared second split in the middle
    assert overlap_words("x y".split(), "z".split(), 3) == 0
    plain = stitch([Segment(5, 6, "b"), Segment(1, 2, "a")])
    assert [s.text for s in plain] == ["a", "b"]


def test_subtitle_timestamps():
    segs = [Segment(1.5, 3.25, "hello there"), Segment(3661.0, 3662.004, "bye"), Segment(4000, 4001, "")]
    assert to_srt(segs, {}) == (
        "1\n00:00:01,500 --> 00:00:03,250\nhello there\n\n2\n01:01:01,000 --> 01:01:02,004\nbye\n"
    )
    assert to_vtt(segs, {}).startswith("WEBVTT\n\n00:00:01.500 --> 00:00:03.250\nhello there\n")


def test_folder_listing_names_outputs_without_collisions(tmp_path):
    from avhubert_ami.cli.transcribe import list_inputs

    for rel in ("a.mp4", "a.wav", "sub/a.mp4", "notes.txt", "b.mkv"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = [n for _, n in list_inputs([str(tmp_path)])]
    assert names == ["a_mp4", "a_wav", "b", os.path.join("sub", "a")]


# ---- with the tiny model -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return trained_checkpoint(tmp_path_factory) / "checkpoints" / "checkpoint_best.pt"


@pytest.fixture(scope="module")
def transcriber(ckpt):
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.transcribe import Transcriber

    return Transcriber.from_checkpoint(str(ckpt), SearchSettings(beam=1), device="cpu")


def test_api_audio_only_and_resampling_note(transcriber, tmp_path):
    from scipy.signal import resample_poly

    wave, _, bounds = speech_with_pauses([0.5, 1.0], [30, 40])
    stereo = np.stack([resample_poly(wave, 441, 160)] * 2, axis=1).astype(np.float32) * 0.9
    path = str(tmp_path / "a.flac")
    import soundfile as sf

    sf.write(path, stereo, 44100)
    notes = []
    segs = transcriber.transcribe(audio=path, notes=notes)
    assert len(segs) == 2 and all(s.modalities == ["audio"] for s in segs)
    assert any("44100 Hz with 2 channel(s); resampled to 16000 Hz mono" in n for n in notes)
    assert [s.start for s in segs] == sorted(s.start for s in segs)


def test_face_disappearing_falls_back_to_audio_for_that_segment(transcriber, tmp_path):
    pytest.importorskip("mediapipe")
    pytest.importorskip("skimage")
    from scipy.signal import resample_poly

    from avhubert_ami.testing.media import astronaut_frames

    wave, lips, bounds = speech_with_pauses([0.6, 1.2, 0.8], [40, 50, 35])
    fps = 30.0
    n = int(round(len(lips) / 25 * fps))
    gone = [i for i in range(n) if bounds[1][0] - 0.3 <= i / fps < bounds[1][1] + 0.3]  # face gone in utterance 2
    rgb, _ = astronaut_frames(n, blank=gone, zoom=0.6)
    path = write_av(str(tmp_path / "face.mkv"), rgb, fps, resample_poly(wave, 441, 160).astype(np.float32), 44100)
    notes = []
    segs = transcriber.transcribe(video=path, notes=notes)
    assert [s.modalities for s in segs] == [["audio", "video"], ["audio"], ["audio", "video"]]
    assert "no face" in segs[1].note and any("no face found" in n for n in notes)
    # forcing audio only never looks at the video
    assert all(s.modalities == ["audio"] for s in transcriber.transcribe(video=path, modalities=["audio"]))


def test_lip_video_without_audio_uses_overlapping_windows(transcriber, tmp_path):
    _, lips, _ = speech_with_pauses([0.5, 0.5], [60, 60], tail=0.5)
    path = str(tmp_path / "lips.mkv")
    write_video(path, lips)
    transcriber.settings.window_s, transcriber.settings.window_overlap_s = 2.0, 0.4
    try:
        segs = transcriber.transcribe(video=path, lip_video=True)
    finally:
        transcriber.settings.window_s, transcriber.settings.window_overlap_s = 10.0, 1.0
    assert len(segs) == len(fixed_windows(len(lips) / 25, 2.0, 0.4)) == 4  # 0-2, 1.6-3.6, 3.2-5.2, 4.8-6.28 s
    assert all(s.modalities == ["video"] for s in segs)
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(len(lips) / 25, abs=0.05)
    assert all(a.end == b.start for a, b in zip(segs, segs[1:]))


def test_longform_matches_per_utterance_decoding(ckpt, tmp_path):
    """Small-size version of the docs/projections.md measurement: utterances of a held-out split concatenated
    with pauses of varying length, transcribed whole, vs decoded one by one from the manifest."""
    from avhubert_ami.cli.transcribe import main
    from avhubert_ami.decoding.split import decode_split
    from avhubert_ami.scoring.wer import error_rate
    from avhubert_ami.testing.recordings import manifest_clips, write_long_recording
    from avhubert_ami.testing.tiny_data import make_tiny_split

    data = ckpt.parents[2] / "data"
    if not (data / "heldout.tsv").exists():
        make_tiny_split(str(data), n=5, split="heldout", seed=7, frames=(30, 45, 40, 55, 35), tokenizer=False)
    ids, refs, clips = manifest_clips(str(data), "heldout")
    pauses = [0.6, 1.5, 0.8, 2.2, 1.0]
    bounds = write_long_recording(clips, pauses, str(tmp_path / "rec.mkv"), str(tmp_path / "rec.wav"))
    (tmp_path / "refs.txt").write_text("rec\t" + " ".join(refs) + "\n")
    out = tmp_path / "out"
    rc = main(
        [
            "--path",
            str(ckpt),
            str(tmp_path / "rec.mkv"),
            "--audio",
            str(tmp_path / "rec.wav"),
            "--lip_video",
            "--output_dir",
            str(out),
            "--beam",
            "2",
            "--cpu",
            "--references",
            str(tmp_path / "refs.txt"),
        ]
    )
    assert rc == 0
    doc = json.loads((out / "rec.json").read_text())
    segs = doc["segments"]
    assert len(segs) == len(bounds)
    for s, (ts, te) in zip(segs, bounds):
        assert abs(s["start"] - ts) <= 0.3 and abs(s["end"] - te) <= 0.3
        assert s["modalities"] == ["audio", "video"] and "avg_logprob" in s
    assert doc["score"]["normalizer"] == "basic" and doc["decoding"]["beam"] == 2 and doc["model"] == str(ckpt)
    assert set(doc["rtf"]) >= {"audio_decode", "vad", "roi", "decode", "total"}
    per_utt = decode_split(str(ckpt), str(data), "heldout", beam=2, cpu=True)
    per_utt_wer = error_rate([u.hyp for u in per_utt.utterances], [u.ref for u in per_utt.utterances])
    longform_wer = error_rate([" ".join(s["text"] for s in segs)], [" ".join(refs)])
    print("WER long-form", longform_wer, "per utterance", per_utt_wer)
    assert abs(longform_wer - per_utt_wer) <= 2.0, (longform_wer, per_utt_wer)
    for name in ("rec.txt", "rec.srt", "rec.vtt"):
        assert (out / name).is_file()


# ---- bad input ---------------------------------------------------------------------------------------------
def test_folder_keeps_going_past_corrupt_and_truncated_files(ckpt, tmp_path, capsys):
    from avhubert_ami.cli.transcribe import main

    folder = tmp_path / "in"
    folder.mkdir()
    wave, _, _ = speech_with_pauses([0.5], [40])
    write_audio(str(folder / "good.wav"), wave)
    (folder / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    full = write_av(str(tmp_path / "full.mp4"), np.full((50, 64, 64, 3), 90, np.uint8), 25.0, wave)
    data = open(full, "rb").read()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    rc = main(["--path", str(ckpt), str(folder), "--output_dir", str(tmp_path / "out"), "--cpu", "--format", "json"])
    out = capsys.readouterr().out
    assert rc == 1
    assert (tmp_path / "out" / "good.json").is_file()
    assert "FAILED 2 file(s)" in out and "garbage.mp4" in out and "truncated.mp4" in out


def test_no_audio_and_no_face_is_a_clear_error(transcriber, tmp_path):
    pytest.importorskip("mediapipe")
    from avhubert_ami.transcribe import TranscribeError

    path = write_av(str(tmp_path / "wall.mkv"), np.full((40, 96, 128, 3), 120, np.uint8), 25.0, None)
    with pytest.raises(TranscribeError, match=r"wall\.mkv: no audio stream and no face"):
        transcriber.transcribe(video=path)


@pytest.mark.parametrize("seconds", [0.0, 3.0])
def test_empty_or_silent_recording_gives_empty_transcript_and_note(ckpt, tmp_path, seconds):
    import soundfile as sf

    from avhubert_ami.cli.transcribe import main

    sf.write(str(tmp_path / "quiet.wav"), np.zeros(int(16000 * seconds), np.float32), 16000)
    rc = main(["--path", str(ckpt), str(tmp_path / "quiet.wav"), "--output_dir", str(tmp_path / "out"), "--cpu"])
    assert rc == 0
    doc = json.loads((tmp_path / "out" / "quiet.json").read_text())
    assert doc["segments"] == [] and doc["text"] == ""
    assert any("empty" in n or "no speech" in n for n in doc["notes"])
    assert (tmp_path / "out" / "quiet.txt").read_text() == ""


def test_pretraining_checkpoint_is_refused(tmp_path, capsys):
    from avhubert_ami.cli.transcribe import main
    from tests.support.training import fake_pretrain_checkpoint

    path = fake_pretrain_checkpoint(tmp_path / "base.pt")
    write_audio(str(tmp_path / "a.wav"), np.zeros(16000, np.float32))
    rc = main(["--path", str(path), str(tmp_path / "a.wav"), "--output_dir", str(tmp_path / "out")])
    assert rc == 2
    assert "pretraining checkpoint" in capsys.readouterr().err


def test_usage_errors(ckpt, tmp_path, capsys):
    from avhubert_ami.cli.transcribe import main

    rc = main(["--path", str(ckpt), str(tmp_path / "absent.mp4"), "--output_dir", str(tmp_path)])
    assert rc == 2 and "absent.mp4: no such file" in capsys.readouterr().err
    rc = main(["--path", str(ckpt), str(tmp_path), "--output_dir", str(tmp_path), "--format", "doc"])
    assert rc == 2 and "unknown format" in capsys.readouterr().err


# ---- joint CTC/attention and LM fusion (avhubert_ami.decoding.generator, avhubert_ami.lm.task) -----
def test_ctc_weight_needs_a_ctc_head(ckpt, tmp_path):
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.errors import UsageError
    from avhubert_ami.transcribe import Transcriber
    from tests.support.decoding import without_ctc_head

    attention_only = without_ctc_head(ckpt, tmp_path / "attention_only.pt")  # the tiny_cpu preset trains a head
    with pytest.raises(UsageError, match="CTC head"):
        Transcriber.from_checkpoint(str(attention_only), SearchSettings(ctc_weight=0.3), device="cpu")


def test_ctc_weight_and_lm_reach_the_search(ckpt, tmp_path, tmp_path_factory):
    """Segments decoded with joint CTC/attention + LM fusion equal avhubert-decode's hypotheses for the same clip
    cut exactly (a recording holding one utterance with no padding around it)."""
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.decoding.split import decode_split
    from avhubert_ami.transcribe import Transcriber
    from tests.support.decoding import with_ctc_head
    from tests.support.lm import tiny_lm

    hybrid = with_ctc_head(ckpt, tmp_path / "hybrid.pt")
    lm_path = tiny_lm(tmp_path_factory)
    data = ckpt.parents[2] / "data"
    search = SearchSettings(beam=3, ctc_weight=0.3, lm_path=str(lm_path), lm_weight=0.2)
    t = Transcriber.from_checkpoint(str(hybrid), search, device="cpu", data_dir=str(data))
    ref = decode_split(
        str(hybrid),
        str(data),
        "train",
        beam=3,
        batch_size=1,
        cpu=True,
        ctc_weight=0.3,
        lm_path=str(lm_path),
        lm_weight=0.2,
    )
    from avhubert_ami.data.manifest import load_split
    from avhubert_ami.transcribe.media import Wav16k
    from avhubert_ami.transcribe.transcriber import Plan

    row = load_split(str(data), "train")[0].rows[0]
    plan = Plan(video=row.video, audio=row.audio, lip_video=True, use=("audio", "video"), fps=25.0)
    ours = t.decode_batch([t.segment_item(plan, Wav16k(row.audio), 0.0, row.n_video_frames / 25)])
    assert ours[0].text == next(u.hyp for u in ref.utterances if u.id == row.id)
    assert ours[0].modalities == ["audio", "video"]
    assert t.settings_dict()["decoding"]["ctc_weight"] == 0.3 and t.settings_dict()["decoding"]["lm_weight"] == 0.2


def test_lip_clip_shorter_than_its_audio_decodes_the_rest_audio_only(transcriber, tmp_path):
    wave, lips, bounds = speech_with_pauses([0.5, 1.0], [40, 40])
    write_audio(str(tmp_path / "a.wav"), wave)
    write_video(str(tmp_path / "lips.mkv"), lips[: int(bounds[0][1] * 25) + 5])  # video stops after utterance 1
    notes = []
    segs = transcriber.transcribe(
        video=str(tmp_path / "lips.mkv"), audio=str(tmp_path / "a.wav"), lip_video=True, notes=notes
    )
    assert [s.modalities for s in segs] == [["audio", "video"], ["audio"]]
    assert segs[1].note == "after the end of the video: decoded without video"
