"""Voice-activity segmentation of long audio (WebRTC VAD, ``webrtcvad-wheels``) and fixed windows for
videos without audio.

Speech runs of 20 ms frames are bridged over short pauses, padded, capped at the model's maximum
training length (a long run is split at its quietest frame) and snapped to the 40 ms grid of the
25 fps model input, so audio and video cuts of a segment fall on the same frame boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Tuple

import numpy as np

from avhubert_ami.data.constants import SAMPLE_RATE
from avhubert_ami.errors import UsageError

FRAME = 320  # 20 ms: one of the frame sizes WebRTC's VAD accepts
FRAME_S = FRAME / SAMPLE_RATE
GRID = 2  # frames per 40 ms model frame


@dataclass
class VadConfig:
    """Segmentation knobs (seconds)."""

    aggressiveness: int = 2  # WebRTC VAD mode 0 (keeps most) .. 3 (drops most non-speech)
    min_silence_s: float = 0.4  # pauses shorter than this stay inside a segment
    min_speech_s: float = 0.2  # shorter bursts are dropped (clicks)
    pad_s: float = 0.1  # kept before and after each speech run
    edge_drop_db: float = 30.0  # VAD hangover: edge frames this far below the run's peak energy are not speech
    max_segment_s: float = 20.0  # the model's maximum training length (task max_sample_size / 25)

    def check(self) -> "VadConfig":
        """Refuse knobs that cannot segment speech, naming the flag; returns self."""
        if self.aggressiveness not in (0, 1, 2, 3):
            raise UsageError(f"--vad_aggressiveness {self.aggressiveness}: must be 0, 1, 2 or 3")
        if self.max_segment_s < MIN_SEGMENT_S:
            raise UsageError(
                f"--max_segment_s {self.max_segment_s}: segments shorter than {MIN_SEGMENT_S} s hold no word"
            )
        for name in ("min_silence_s", "min_speech_s", "pad_s"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} {getattr(self, name)}: must be >= 0")
        return self


#: the shortest --max_segment_s that can hold a word
MIN_SEGMENT_S = 0.5


def require_vad() -> None:
    """Raise :class:`UsageError` in one line when WebRTC's voice-activity detector is not installed (a dependency of
    avhubert-ami: an install that lacks it is broken or partial)."""
    try:
        import webrtcvad  # noqa: F401
    except ImportError as err:
        raise UsageError(
            f"the voice-activity detector is missing ({err}): pip install webrtcvad-wheels (a dependency of "
            "avhubert-ami; reinstall it to get every dependency)"
        ) from None


def frame_activity(blocks: Iterable[np.ndarray], aggressiveness: int = 2) -> Tuple[np.ndarray, np.ndarray]:
    """``(speech flag, log energy)`` per 20 ms frame of int16 16 kHz mono ``blocks`` (a trailing partial frame
    is zero-padded). Memory: two small arrays per frame, whatever the length."""
    import webrtcvad

    vad = webrtcvad.Vad(int(aggressiveness))
    speech: List[bool] = []
    energy: List[float] = []
    rest = np.zeros(0, dtype=np.int16)

    def run(samples: np.ndarray) -> None:
        frames = samples.reshape(-1, FRAME)
        e = np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1.0)
        energy.extend(e.tolist())
        speech.extend(vad.is_speech(f.tobytes(), SAMPLE_RATE) for f in frames)

    for block in blocks:
        buf = np.concatenate([rest, np.asarray(block, dtype=np.int16).reshape(-1)])
        n = len(buf) // FRAME * FRAME
        if n:
            run(buf[:n])
        rest = buf[n:]
    if len(rest):
        run(np.pad(rest, (0, FRAME - len(rest))))
    return np.asarray(speech, dtype=bool), np.asarray(energy, dtype=np.float32)


def _runs(flags: np.ndarray) -> List[Tuple[int, int]]:
    """``[(start, end)]`` frame ranges where ``flags`` is true."""
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def split_at_quietest(start: int, end: int, energy: np.ndarray, max_frames: int) -> List[Tuple[int, int]]:
    """Cut ``[start, end)`` into pieces of at most ``max_frames``, each cut at the lowest-energy frame (smoothed
    over 100 ms) of the second half of the allowed span, so cuts land in pauses when there are any."""
    out = []
    kernel = np.ones(5, dtype=np.float32) / 5
    while end - start > max_frames:
        lo, hi = start + max_frames // 2, start + max_frames
        e = np.convolve(energy[lo:hi], kernel, mode="same")
        cut = lo + int(np.argmin(e))
        cut = max(start + GRID, cut - cut % GRID)
        out.append((start, cut))
        start = cut
    out.append((start, end))
    return out


def trim_edges(flags: np.ndarray, energy: np.ndarray, drop_db: float) -> np.ndarray:
    """Unset the leading/trailing frames of each run that are ``drop_db`` below the run's loudest frame:
    WebRTC's VAD keeps flagging ~100 ms after speech ends (its hangover), which would shift segment ends."""
    out = flags.copy()
    drop = drop_db / 10.0  # energy is log10 of the mean square
    for s, e in _runs(flags):
        loud = np.flatnonzero(energy[s:e] >= energy[s:e].max() - drop)
        out[s : s + loud[0]] = False
        out[s + loud[-1] + 1 : e] = False
    return out


def speech_segments(speech: np.ndarray, energy: np.ndarray, cfg: VadConfig) -> List[Tuple[float, float]]:
    """Segments ``[(start_s, end_s)]`` in time order from per-frame activity (see the module docstring)."""
    n = len(speech)
    flags = trim_edges(speech, energy, cfg.edge_drop_db) if cfg.edge_drop_db > 0 else speech.copy()
    runs = _runs(flags)
    gap = int(round(cfg.min_silence_s / FRAME_S))
    for (_, e0), (s1, _) in zip(runs, runs[1:]):  # bridge short pauses
        if s1 - e0 < gap:
            flags[e0:s1] = True
    min_len = int(round(cfg.min_speech_s / FRAME_S))
    pad = int(round(cfg.pad_s / FRAME_S))
    padded = np.zeros(n, dtype=bool)
    for s, e in _runs(flags):
        if e - s >= min_len:
            padded[max(0, s - pad) : min(n, e + pad)] = True
    max_frames = max(GRID, int(cfg.max_segment_s / FRAME_S) // GRID * GRID)
    out: List[Tuple[float, float]] = []
    for s, e in _runs(padded):
        s, e = s - s % GRID, min(n + (-n) % GRID, e + (-e) % GRID)  # the 40 ms grid
        for a, b in split_at_quietest(s, e, energy, max_frames):
            out.append((a * FRAME_S, b * FRAME_S))
    return out


def fixed_windows(duration: float, window_s: float, overlap_s: float) -> List[Tuple[float, float]]:
    """Windows of ``window_s`` overlapping by ``overlap_s`` covering ``[0, duration)`` (on the 40 ms grid)."""
    if duration <= 0:
        return []
    if not 0 <= overlap_s < window_s:
        raise ValueError(f"window overlap must be in [0, window), got {overlap_s} for a {window_s} s window")
    q = 0.04
    window, step = round(window_s / q) * q, round((window_s - overlap_s) / q) * q
    out, t = [], 0.0
    while True:
        end = min(t + window, round(np.ceil(duration / q)) * q)
        out.append((round(t, 3), round(end, 3)))
        if end >= duration - 1e-6:
            return out
        t += step
