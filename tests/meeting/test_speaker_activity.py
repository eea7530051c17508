"""Who speaks when (avhubert_ami.meeting.activity) on synthetic meetings with known talk spans.

Participants are rendered with avhubert_ami.synth (formant speech and mouth video from one phone timeline, silence
elsewhere); some silent stretches get non-speech mouth motion (slow open/close sweeps). Each headset hears its
wearer plus the others 8-20 dB lower (crosstalk); the room hears everyone through a reverberant tail, with noise.

Scoring follows diarization practice: frames within a 0.25 s collar of a true boundary are not scored (NIST
md-eval's default collar), so a few frames of padding or lip lead do not count as errors; DER here is
(missed + false alarm frames) / true speech frames, per participant.

Speed and accuracy report: ``python -m pytest tests/meeting/test_speaker_activity.py -m slow -s -k benchmark``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pytest

from avhubert_ami.data.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from avhubert_ami.meeting.activity import (
    ActivityConfig,
    LipMotion,
    Participant,
    ParticipantActivity,
    audio_frames,
    detect_activity,
    hysteresis,
    lip_motion,
    score_segments,
    segments_to_frames,
)
from avhubert_ami.synth.audio import synthesize
from avhubert_ami.synth.lexicon import VISEME_FIELDS
from avhubert_ami.synth.speakers import sample_speaker, sample_words, utterance_timeline
from avhubert_ami.synth.video import render, viseme_tracks

pytest.importorskip("webrtcvad")

N_FRAMES = 1000  # 40 s
COLLAR = int(0.25 * FPS)
OPEN = VISEME_FIELDS.index("open")
WIDTH = VISEME_FIELDS.index("width")

# (start s, words) per participant; A and B overlap at 19-21 s; nobody speaks at 15.5-18.5 s and after ~36.5 s
PLAN = {
    "A": [(1.0, 5), (9.0, 4), (19.0, 5), (30.0, 4)],
    "B": [(5.0, 4), (19.8, 4), (26.0, 4), (33.0, 4)],
    "C": [(12.5, 4), (23.0, 3)],
}
# non-speech mouth motion (start s, end s): C while A speaks (C's headset holds A's crosstalk), B and A in silence,
# B right after B's last turn (lips must not hold a segment open)
MOTION = {"A": [(37.0, 39.5)], "B": [(15.8, 18.2), (35.8, 38.0)], "C": [(1.2, 3.2), (9.2, 11.0)]}


@dataclass
class Rendered:
    """One synthetic participant: clean voice (float32 at 16 kHz), mouth frames, true activity per frame."""

    voice: np.ndarray
    frames: np.ndarray
    truth: np.ndarray


def _sweep(n: int, period_s: float, amp: float) -> np.ndarray:
    """Slow open/close mouth sweeps (a yawn-like stretch, chewing): opening and width tracks of ``n`` frames."""
    t = np.arange(n) / FPS
    phase = 0.5 - 0.5 * np.cos(2 * np.pi * t / period_s)
    return np.stack([amp * phase, 1.0 + 0.1 * phase], axis=1)


def render_participant(name: str, seed: int, plan, motion, n_frames: int = N_FRAMES) -> Rendered:
    """Render ``plan`` (utterance start s, words) with non-speech ``motion`` spans into an ``n_frames`` meeting."""
    rng = np.random.default_rng(seed)
    spk = sample_speaker(name, rng)
    voice = rng.normal(0.0, 3e-4, n_frames * SAMPLES_PER_FRAME).astype(np.float32)  # microphone floor
    truth = np.zeros(n_frames, bool)
    timeline: List[Tuple[str, int]] = []
    pos = 0
    for start_s, n_words in plan:
        start = int(round(start_s * FPS))
        assert start >= pos, f"{name}: utterance at {start_s} s overlaps the previous one"
        tl, spans = utterance_timeline(sample_words(rng, n_words, n_words), spk, rng)
        length = sum(d for _, d in tl)
        assert start + length <= n_frames
        timeline += [("sil", start - pos)] if start > pos else []
        timeline += tl
        voice[start * SAMPLES_PER_FRAME : (start + length) * SAMPLES_PER_FRAME] += synthesize(tl, spk.voice, rng)
        truth[start + spans[0][0] : start + spans[-1][1]] = True
        pos = start + length
    timeline.append(("sil", n_frames - pos))
    tracks = viseme_tracks(timeline)
    for a_s, b_s in motion:
        a, b = int(a_s * FPS), int(b_s * FPS)
        assert not truth[a:b].any(), f"{name}: non-speech motion must fall in silence"
        sweep = _sweep(b - a, period_s=0.7, amp=7.0)  # chewing pace; slower sweeps move too little per frame
        tracks[a:b, OPEN], tracks[a:b, WIDTH] = sweep[:, 0], sweep[:, 1]
    frames = render(tracks, spk.face, rng)
    return Rendered(voice, frames, truth)


@pytest.fixture(scope="module")
def meeting() -> Dict[str, Rendered]:
    """Three rendered participants (~5 s of synthesis, once per module)."""
    return {name: render_participant(name, 10 + i, PLAN[name], MOTION.get(name, [])) for i, name in enumerate(PLAN)}


def _write(path, wave: np.ndarray) -> str:
    import soundfile as sf

    sf.write(str(path), np.clip(wave, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    return str(path)


def headset_mix(voices: Dict[str, np.ndarray], wearer: str, seed: int) -> np.ndarray:
    """The wearer's voice plus every other voice 8-20 dB lower (crosstalk)."""
    rng = np.random.default_rng(seed)
    out = voices[wearer].copy()
    for name, v in voices.items():
        if name != wearer:
            out += v * 10 ** (-rng.uniform(8, 20) / 20)
    return out


def room_mix(voices: Dict[str, np.ndarray], seed: int, snr_db: float = 15.0) -> np.ndarray:
    """All voices at -3..+3 dB of each other, smeared by a 0.3 s exponentially decaying noise tail (reverb),
    plus white noise ``snr_db`` below the speech level."""
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    dry = sum(v * 10 ** (rng.uniform(-3, 3) / 20) for v in voices.values())
    t = np.arange(int(0.4 * SAMPLE_RATE)) / SAMPLE_RATE
    ir = rng.normal(0, 1, len(t)) * np.exp(-6.9 * t / 0.3) * 0.02
    ir[0] = 1.0
    wet = fftconvolve(dry, ir)[: len(dry)]
    level = np.sqrt(np.mean(wet[np.abs(wet) > 1e-3] ** 2))
    return (0.5 * (wet + rng.normal(0, level * 10 ** (-snr_db / 20), len(wet)))).astype(np.float32)


def chunks(frames: np.ndarray, size: int = 137, face: Optional[np.ndarray] = None) -> Iterator:
    """Frames in odd-sized chunks (as a camera reader would stream them), with face flags when given."""
    for i in range(0, len(frames), size):
        yield frames[i : i + size] if face is None else (frames[i : i + size], face[i : i + size])


def make_participants(
    meeting: Dict[str, Rendered],
    tmp_path,
    headsets: Sequence[str],
    cameras: Optional[Sequence[str]] = None,
    room: bool = True,
    names: Optional[Sequence[str]] = None,
    face: Optional[Dict[str, np.ndarray]] = None,
) -> Tuple[List[Participant], Optional[str]]:
    """Participants of ``names`` (all by default) with headsets for ``headsets`` and cameras for ``cameras``
    (all by default), and the room wav of their voices."""
    names = list(names or meeting)
    voices = {n: meeting[n].voice for n in names}
    cameras = names if cameras is None else cameras
    out = []
    for i, n in enumerate(names):
        wav = _write(tmp_path / f"{n}.wav", headset_mix(voices, n, 100 + i)) if n in headsets else None
        frames = chunks(meeting[n].frames, face=(face or {}).get(n)) if n in cameras else None
        out.append(Participant(n, frames, wav))
    room_wav = _write(tmp_path / "room.wav", room_mix(voices, 7)) if room else None
    return out, room_wav


def scores(pred: np.ndarray, truth: np.ndarray) -> Dict[str, float]:
    """Frame accuracy and DER (missed + false alarm over true speech) outside the collar around true boundaries."""
    edges = np.flatnonzero(np.diff(truth.astype(np.int8))) + 1
    keep = np.ones(len(truth), bool)
    for e in edges:
        keep[max(0, e - COLLAR) : e + COLLAR] = False
    p, t = pred[keep], truth[keep]
    miss, fa = float((t & ~p).sum()), float((p & ~t).sum())
    return {"acc": float((p == t).mean()), "der": (miss + fa) / max(1.0, float(t.sum())), "miss": miss, "fa": fa}


def evaluate(result: Sequence[ParticipantActivity], meeting: Dict[str, Rendered]) -> Dict[str, Dict[str, float]]:
    return {r.name: scores(segments_to_frames(r.segments, N_FRAMES), meeting[r.name].truth) for r in result}


def spans_frames(spans: Sequence[Tuple[float, float]]) -> np.ndarray:
    out = np.zeros(N_FRAMES, bool)
    for a, b in spans:
        out[int(a * FPS) : int(b * FPS)] = True
    return out


def others_only(meeting: Dict[str, Rendered], name: str, names: Sequence[str]) -> np.ndarray:
    """Frames where someone else in ``names`` speaks and ``name`` does not (outside the collar)."""
    truth = meeting[name].truth
    other = np.any([meeting[n].truth for n in names if n != name], axis=0)
    near = np.convolve(truth.astype(float), np.ones(2 * COLLAR + 1), mode="same") > 0
    return other & ~near


# ---- headsets ------------------------------------------------------------------------------------------------
def test_headsets_av_match_the_truth_with_overlap(meeting, tmp_path):
    participants, room = make_participants(meeting, tmp_path, headsets=list(PLAN))
    result = detect_activity(participants, room, ActivityConfig(mode="av"))
    assert [r.name for r in result] == list(PLAN)
    for r in result:
        s = scores(segments_to_frames(r.segments, N_FRAMES), meeting[r.name].truth)
        # measured 1.000 / 0.000 (0.992 / 0.055 at worst over 5 speaker draws); ~10 wrong frames of 1000 allowed
        assert s["acc"] >= 0.98 and s["der"] <= 0.1, (r.name, s, r.segments)
        assert r.cues == ["lips", "headset"] and r.notes == []
        assert all(0.5 <= seg.score <= 1.0 for seg in r.segments), r.segments
    a, b = (segments_to_frames(r.segments, N_FRAMES) for r in result[:2])
    overlap = meeting["A"].truth & meeting["B"].truth
    assert overlap.sum() > 25 and (a & b)[overlap].mean() >= 0.95  # two people at once: both active


@pytest.mark.parametrize("mode", ["av", "audio"])
def test_crosstalk_gives_its_wearer_no_activity(meeting, tmp_path, mode):
    participants, room = make_participants(meeting, tmp_path, headsets=list(PLAN), room=False)
    result = detect_activity(participants, room, ActivityConfig(mode=mode))
    for r in result:
        crosstalk = others_only(meeting, r.name, list(PLAN))
        assert crosstalk.sum() > 100
        assert segments_to_frames(r.segments, N_FRAMES)[crosstalk].mean() <= 0.01, (r.name, r.segments)
    # the crosstalk is loud enough to fool VAD + level alone (no comparison with the other headsets)
    participants, _ = make_participants(meeting, tmp_path, headsets=list(PLAN), room=False)
    naive = detect_activity(participants, None, ActivityConfig(mode="audio", own_margin_db=-60))
    fooled = [segments_to_frames(r.segments, N_FRAMES)[others_only(meeting, r.name, list(PLAN))].mean() for r in naive]
    assert min(fooled) >= 0.5, fooled


def test_non_speech_mouth_motion_is_rejected_by_fusion_not_by_lips(meeting, tmp_path):
    motion = {n: spans_frames(s) for n, s in MOTION.items()}
    active = {}
    for mode in ("video", "av"):
        participants, room = make_participants(meeting, tmp_path, headsets=list(PLAN))
        result = detect_activity(participants, room, ActivityConfig(mode=mode))
        active[mode] = {r.name: segments_to_frames(r.segments, N_FRAMES)[motion[r.name]].mean() for r in result}
    # lips alone take the sweeps for speech (C's happen while A speaks, B's and A's in silence) ...
    assert all(v >= 0.8 for v in active["video"].values()), active
    # ... the headsets, silent or holding only crosstalk there, veto them
    assert all(v == 0.0 for v in active["av"].values()), active


def test_own_speech_with_still_lips_stays_active(meeting, tmp_path):
    """Lips that barely move (a mumbler, a poor crop) do not veto clear headset speech: audio alone suffices."""
    rng = np.random.default_rng(1)
    still = dict(meeting)
    frames = np.repeat(meeting["A"].frames[:1], N_FRAMES, axis=0).astype(np.int16)
    frames += rng.integers(-2, 3, frames.shape, dtype=np.int16)  # sensor noise only
    still["A"] = Rendered(meeting["A"].voice, np.clip(frames, 0, 255).astype(np.uint8), meeting["A"].truth)
    participants, room = make_participants(still, tmp_path, headsets=list(PLAN))
    result = detect_activity(participants, room, ActivityConfig(mode="av"))
    assert scores(segments_to_frames(result[0].segments, N_FRAMES), meeting["A"].truth)["acc"] >= 0.98
    assert result[0].cues == ["lips", "headset"]


# ---- room channel ----------------------------------------------------------------------------------------------
def test_room_and_lips_attribute_alternating_and_overlapping_talkers(meeting, tmp_path):
    """No headsets: the room says someone speaks, the lips say who (A and B alternate, then overlap at 19-21 s)."""
    names = ["A", "B"]
    participants, room = make_participants(meeting, tmp_path, headsets=[], names=names)
    result = detect_activity(participants, room, ActivityConfig(mode="av"))
    frames = {r.name: segments_to_frames(r.segments, N_FRAMES) for r in result}
    for r in result:
        s = scores(frames[r.name], meeting[r.name].truth)
        assert s["acc"] >= 0.97 and s["der"] <= 0.15, (r.name, s, r.segments)  # measured 1.000 / 0.000
        assert frames[r.name][others_only(meeting, r.name, names)].mean() <= 0.02  # the other's turns
        assert r.cues == ["lips", "room"] and any("room channel" in n for n in r.notes)
    overlap = meeting["A"].truth & meeting["B"].truth
    assert (frames["A"] & frames["B"])[overlap].mean() >= 0.9
    # audio alone hears the talk but cannot say whose it is: each gets the other's turns too
    participants, room = make_participants(meeting, tmp_path, headsets=[], names=names)
    audio = detect_activity(participants, room, ActivityConfig(mode="audio"))
    for r in audio:
        assert segments_to_frames(r.segments, N_FRAMES)[others_only(meeting, r.name, names)].mean() >= 0.8
        assert any("cannot tell them apart" in n for n in r.notes)


def test_no_headset_uses_the_room_and_wearers_reject_its_crosstalk(meeting, tmp_path):
    """C has no headset; C's voice still leaks into A's and B's headsets, equally, which only the room reveals."""
    participants, room = make_participants(meeting, tmp_path, headsets=["A", "B"])
    result = {r.name: r for r in detect_activity(participants, room, ActivityConfig(mode="av"))}
    c = result["C"]
    assert c.cues == ["lips", "room"] and any("no headset: room channel used" in n for n in c.notes)
    s = scores(segments_to_frames(c.segments, N_FRAMES), meeting["C"].truth)
    assert s["acc"] >= 0.97 and s["der"] <= 0.15, (s, c.segments)  # measured 1.000 / 0.000
    c_talks = others_only(meeting, "A", ["A", "C"]) & others_only(meeting, "B", ["B", "C"])
    for w in ("A", "B"):
        s = scores(segments_to_frames(result[w].segments, N_FRAMES), meeting[w].truth)
        assert s["acc"] >= 0.97, (w, s)
        assert segments_to_frames(result[w].segments, N_FRAMES)[c_talks].mean() <= 0.02, (w, result[w].segments)
    # without the room, the headsets alone take C's leak for their wearers' voices, and C has lips only
    participants, _ = make_participants(meeting, tmp_path, headsets=["A", "B"], room=False)
    blind = {r.name: r for r in detect_activity(participants, None, ActivityConfig(mode="av"))}
    assert max(segments_to_frames(blind[w].segments, N_FRAMES)[c_talks].mean() for w in ("A", "B")) >= 0.5
    assert any("no headset and no room audio" in n for n in blind["C"].notes)
    assert any("lips only" in n for n in blind["C"].notes)


# ---- fallbacks -------------------------------------------------------------------------------------------------
def test_face_lost_falls_back_to_audio_with_a_note(meeting, tmp_path):
    """A's face is lost over A's second turn (8.5-11.5 s), B's over a silent stretch whose crops are junk."""
    lost = {"A": (8.5, 11.5), "B": (15.0, 18.5)}
    face = {n: ~spans_frames([span]) for n, span in lost.items()}
    junk = dict(meeting)
    for n, (a, b) in lost.items():  # a tracker that lost the face crops something else: noise
        frames = meeting[n].frames.copy()
        i, j = int(a * FPS), int(b * FPS)
        frames[i:j] = np.random.default_rng(0).integers(0, 256, frames[i:j].shape, dtype=np.uint8)
        junk[n] = Rendered(meeting[n].voice, frames, meeting[n].truth)
    for mode in ("av", "video"):
        participants, room = make_participants(junk, tmp_path, headsets=list(PLAN), face=face)
        result = {r.name: r for r in detect_activity(participants, room, ActivityConfig(mode=mode))}
        for n in lost:
            assert any(note.startswith("face lost for 3.") and "audio" in note for note in result[n].notes), mode
            assert "headset" in result[n].cues
        a, b = (segments_to_frames(result[n].segments, N_FRAMES) for n in ("A", "B"))
        truth_a = meeting["A"].truth & ~face["A"]  # A speaks while A's face is lost
        assert truth_a.sum() > 30 and a[truth_a].mean() >= 0.95, mode  # the headset carries A's turn
        assert not b[~face["B"]].any(), mode  # the junk crops (and B's sweeps there) are not read as lips


def test_missing_camera_uses_audio_and_missing_everything_is_silent(meeting, tmp_path):
    participants, _ = make_participants(meeting, tmp_path, headsets=list(PLAN), cameras=["A", "C"], room=False)
    participants.append(Participant("D"))  # neither camera nor headset
    result = {r.name: r for r in detect_activity(participants, None, ActivityConfig(mode="av"))}
    b = result["B"]
    assert b.cues == ["headset"] and any("no camera" in n for n in b.notes)
    assert scores(segments_to_frames(b.segments, N_FRAMES), meeting["B"].truth)["acc"] >= 0.97
    assert result["D"].segments == [] and result["D"].cues == [] and result["D"].notes


# ---- pieces ----------------------------------------------------------------------------------------------------
def test_lip_motion_is_the_same_whatever_the_chunking(meeting):
    frames = meeting["A"].frames[:400]
    whole = lip_motion([frames])
    assert np.isnan(whole[0]) and np.isfinite(whole[1:]).all()  # the first frame has no predecessor
    for size in (1, 7, 137):
        np.testing.assert_allclose(lip_motion(chunks(frames, size)), whole, rtol=1e-4, atol=1e-6)
    face = np.ones(400, bool)
    face[100:110] = False
    flagged = lip_motion(chunks(frames, 33, face))
    assert np.isnan(flagged[100:111]).all() and np.isfinite(flagged[111:]).all()  # 110 follows a faceless frame
    with pytest.raises(ValueError, match="96"):
        LipMotion().update(np.zeros((3, 88, 88), np.uint8))


def test_lip_motion_ignores_a_shifted_crop_and_lighting():
    """A still mouth whose crop jumps by 2 px and back, and brightens by 10 %, moves no more than sensor noise
    (frame 1 against frame 0); opening the mouth moves ten times more. Unregistered, the jump alone is 3-4x noise."""
    rng = np.random.default_rng(0)
    from avhubert_ami.synth.speakers import sample_speaker

    face = sample_speaker("S", rng).face
    tracks = np.tile(viseme_tracks([("sil", 1)])[:1], (6, 1))
    tracks[5, OPEN] = 6.0  # the last frame opens the mouth
    frames = render(tracks, face, rng).astype(np.float32)
    frames[2] = np.roll(frames[1], (2, -2), axis=(0, 1))  # crop jump
    frames[3] = frames[2] * 1.1  # exposure
    motion = lip_motion([np.clip(frames, 0, 255).astype(np.uint8)])
    noise = motion[1]
    assert max(motion[2:5]) < 1.5 * noise and motion[5] > 10 * max(motion[1:5]), motion


def test_hysteresis_and_segments():
    s = np.zeros(200)
    s[20:30] = 0.45  # between off and on only: never entered
    s[50:60], s[60:70] = 0.9, 0.4  # entered at 0.9, held while >= off
    s[80:81] = 0.9  # one frame: shorter than min_speech_s
    s[100:120], s[126:140] = 0.8, 0.8  # 6-frame (0.24 s) pause: bridged
    np.testing.assert_array_equal(np.flatnonzero(hysteresis(s, 0.5, 0.35)), np.r_[50:70, 80, 100:120, 126:140])
    cfg = ActivityConfig(pad_s=0.08, min_speech_s=0.2, min_silence_s=0.3)
    segs = score_segments(s, cfg)
    assert [(seg.start, seg.end) for seg in segs] == [(1.92, 2.88), (3.92, 5.68)], segs
    assert segs[0].score == pytest.approx(np.mean(s[48:72]), abs=1e-6)
    assert score_segments(np.zeros(0), cfg) == []


def test_config_and_inputs_are_checked(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        detect_activity([], None, ActivityConfig(mode="lips"))
    with pytest.raises(ValueError, match="threshold"):
        ActivityConfig(on_threshold=0.3, off_threshold=0.4).validate()
    with pytest.raises(ValueError, match="lips alone"):
        ActivityConfig(audio_weight=0.5).validate()  # lips at 0.5 would reach on_threshold
    ActivityConfig(mode="video", audio_weight=0.5).validate()  # the weight only matters in av mode
    with pytest.raises(ValueError, match="unique"):
        detect_activity([Participant("A"), Participant("A")])
    assert detect_activity([]) == []
    import soundfile as sf

    sf.write(str(tmp_path / "8k.wav"), np.zeros(8000), 8000)
    sf.write(str(tmp_path / "stereo.wav"), np.zeros((16000, 2)), SAMPLE_RATE)
    for name in ("8k.wav", "stereo.wav"):
        with pytest.raises(ValueError, match="16000 Hz mono"):
            detect_activity([Participant("A", headset=str(tmp_path / name))])


def test_audio_frames_are_read_in_blocks_and_memory_stays_flat(tmp_path):
    """Peak memory of the detector is that of a chunk: the same for a 1- and a 4-minute meeting (4 minutes of
    frames and audio would be 97 MB). Measured: 18.3 MB for 2 and 18.4 MB for 8 minutes."""
    import tracemalloc

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (8, 96, 96), dtype=np.uint8)

    def camera(total: int, size: int = 250) -> Iterator[np.ndarray]:
        for i in range(0, total, size):
            yield base[np.arange(i, min(total, i + size)) % 8]

    peaks = []
    for minutes in (1, 4):
        n = minutes * 60 * int(FPS)
        tone = 0.1 * np.sin(2 * np.pi * 200 * np.arange(n * SAMPLES_PER_FRAME) / SAMPLE_RATE)
        tone *= np.repeat(np.arange(n) % 100 < 50, SAMPLES_PER_FRAME)  # 2 s on, 2 s off
        wav = _write(tmp_path / f"{minutes}.wav", tone)
        af = audio_frames(wav)
        assert len(af.power) == n and af.speech[10:40].all() and not af.speech[60:90].any()
        tracemalloc.start()
        result = detect_activity([Participant("A", camera(n), wav)], None, ActivityConfig(mode="av"))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert len(result[0].segments) == n // 100  # one per 2 s tone burst
    assert peaks[1] < 25e6 and peaks[1] - peaks[0] < 2e6, peaks


# ---- measurements ----------------------------------------------------------------------------------------------
def _shaken(frames: np.ndarray, sd_px: float, seed: int) -> np.ndarray:
    """Frames whose crop jitters: a random walk plus per-frame shake of ``sd_px`` (sub-pixel, bilinear)."""
    from scipy.ndimage import shift

    if sd_px == 0:
        return frames
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, sd_px / 3, (len(frames), 2)), axis=0)
    walk = np.clip(walk - walk.mean(axis=0), -4 * sd_px, 4 * sd_px) + rng.normal(0, sd_px, (len(frames), 2))
    out = [shift(f.astype(np.float32), s, order=1, mode="nearest") for f, s in zip(frames, walk)]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.slow
def test_benchmark_cue_speed_and_accuracy(meeting, tmp_path):
    """Frames/s of each cue and accuracy of the modes; prints a report (run with ``-m slow -s -k benchmark``)."""
    from avhubert_ami.meeting.activity import lip_scores

    report = []
    cfg = ActivityConfig()
    frames = np.concatenate([meeting[n].frames for n in PLAN])
    speed = {}
    for register in (True, False):
        t0 = time.perf_counter()
        lip_scores(lip_motion(chunks(frames, 250), register), cfg)
        speed["lips" if register else "lips, unregistered"] = len(frames) / (time.perf_counter() - t0)
    participants, room = make_participants(meeting, tmp_path, headsets=list(PLAN))
    t0 = time.perf_counter()
    for p in participants:
        audio_frames(p.headset)
    speed["headset (read + VAD + level)"] = len(PLAN) * N_FRAMES / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    audio_frames(room)
    speed["room (read + VAD + level)"] = N_FRAMES / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    detect_activity(participants, room, cfg)
    speed["whole detector, av (participant-frames)"] = len(PLAN) * N_FRAMES / (time.perf_counter() - t0)
    report += [f"{k:42s} {v:9.0f} frames/s ({v / FPS:6.0f}x real time)" for k, v in speed.items()]

    # the lip cue alone (video mode: lip_scores + segments) on speech / still-silence clips with crop jitter
    plan = [(1.0 + 5 * k, 3 + k % 4) for k in range(8)]
    clips = [render_participant(f"L{i}", 500 + i, plan, []) for i in range(6)]
    for sd in (0.0, 1.0, 2.0):
        for register in (True, False):
            acc = []
            for i, c in enumerate(clips):
                motion = lip_motion([_shaken(c.frames, sd, i)], register)
                pred = segments_to_frames(score_segments(lip_scores(motion, cfg), cfg), N_FRAMES)
                acc.append((scores(pred, c.truth)["acc"], float((pred == c.truth).mean())))
            a = np.array(acc)
            name = "registered" if register else "unregistered"
            report.append(
                f"lips {name:12s} jitter sd {sd:.0f} px: frame accuracy {a[:, 0].mean():.3f} (min {a[:, 0].min():.3f}),"
                f" without collar {a[:, 1].mean():.3f}"
            )
            if register:
                assert a[:, 0].min() >= 0.9, (sd, acc)

    # the modes on the synthetic meeting
    cases = [
        ("3 headsets + room", dict(headsets=list(PLAN))),
        ("room only (A, B)", dict(headsets=[], names=["A", "B"])),
        ("A, B headsets; C room", dict(headsets=["A", "B"])),
    ]
    for label, kw in cases:
        for mode in ("av", "audio", "video"):
            participants, room = make_participants(meeting, tmp_path, **kw)
            result = detect_activity(participants, room, ActivityConfig(mode=mode))
            ev = evaluate(result, meeting)
            raw = {
                r.name: float((segments_to_frames(r.segments, N_FRAMES) == meeting[r.name].truth).mean())
                for r in result
            }
            cells = " ".join(f"{n} {e['acc']:.3f}/{e['der']:.2f}/{raw[n]:.3f}" for n, e in ev.items())
            report.append(f"{label:22s} {mode:5s} accuracy/DER/no-collar accuracy: {cells}")
    print("\n" + "\n".join(report))
    assert speed["lips"] >= 10 * FPS and speed["headset (read + VAD + level)"] >= 10 * FPS
