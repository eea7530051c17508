"""Who speaks when: per-participant speaker activity of a meeting from lips, headsets and the room microphone.

Each participant may have a close-up camera (96x96 gray mouth ROI frames at 25 fps, streamed in chunks, with an
optional per-frame face-found flag), a headset (16 kHz wav) and the meeting may have one room microphone. Three
per-frame (25 Hz) cues are computed in one streaming pass per source, then fused and segmented:

* **lips** -- motion-compensated frame-difference energy of the mouth region (:class:`LipMotion`): the central
  64x64 pixels of the ROI, 2x binned, gain-normalised (lighting flicker), registered to the previous frame by
  phase correlation (global shift, sub-pixel), and the mean absolute residual taken. Averaged over ~0.36 s and
  scored against the participant's own still-mouth level (a low quantile over the meeting), so faces, cameras and
  compression noise need no tuning. Choice, measured on synthetic clips (``avhubert_ami.synth``: speech and still
  silence alternating, the renderer's head jitter and lighting flicker, plus extra crop jitter of the given standard
  deviation; frame accuracy; frames/s on the 2-core development CPU)::

      lip cue alone, as shipped (lip_scores + segments;               no extra   1 px    2 px   frames/s
      6 speakers x 40 s; 0.25 s collar; ``-m slow -k benchmark``)
        registered frame difference (chosen)                            0.998    0.997   0.992     6 200
        plain frame difference (LipMotion(register=False))              0.999    0.990   0.883     9 500
      exploration (8 speakers x 40 s; threshold between the 15th and 95th percentile, no collar)
        registered frame difference                                     0.961    0.961   0.960     4 000
        plain frame difference                                          0.967    0.961   0.927    10 400
        intensity-histogram shape features (translation invariant)      0.955    0.956   0.955     4 900
        AV-HuBERT ResNet-18 visual front end (random weights)               -        -       -        27

  The registered difference keeps its accuracy when the crop jitters by 2 px (landmark noise, nods) at ~250x real
  time per participant; the AV encoder's front end alone runs at about real time for one participant here and would
  still need a trained head. No motion detector can tell speech from a smile, a nod or chewing, so the lips never
  make a participant active alone when there is audio to check against (see fusion).
* **headset** -- own voice against crosstalk. Another participant's voice reaches a headset ``crosstalk_db``
  (>= 8 dB) or more below its level in their own headset, so the power a headset would show from crosstalk alone
  is at most ``10^(-crosstalk_db/10) * sum(other headsets' power)``. A frame is own speech when WebRTC's VAD
  (:func:`avhubert_ami.transcribe.vad.frame_activity`) flags it, it is ``min_level_db`` above the headset's noise
  floor, and its power exceeds that crosstalk bound (plus the floor) by ``own_margin_db``. Two participants who
  overlap both pass: each one's own voice dominates their own headset.
* **room** -- VAD on the room channel says someone speaks. Speech the room hears that the headset wearers' own
  voices do not explain (each wearer's room/headset power ratio is learnt from frames where they alone speak) is
  attributed to the participants without a headset, by their lips. The same ratio protects the wearers: a talker
  without a headset leaks into every headset alike, which the headset comparison cannot see, but the room then
  hears far more than the wearer's own voice would give.

Fusion (``mode``): ``audio`` uses the audio cues only, ``video`` the lips only, ``av`` both. For a headset wearer
``av`` pools ``audio_weight * headset + (1 - audio_weight) * lips``: with the default 0.65 clear own speech is
active even with still lips, mouth motion while the headset holds only silence or crosstalk is not (at most 0.35,
below both thresholds, so it can neither start a segment nor keep one open), and ambiguous audio (a quiet voice in
overlap) is decided by the lips. For a participant without a headset the room says *someone* and the lips say
*who*: the fused score is the smaller of the two.
Frames without a face (flag false, chunks missing, or no camera) fall back to the audio score, with a note.

Scores are turned into segments by hysteresis (``on_threshold`` to enter, ``off_threshold`` to stay), then the
transcriber's segment logic (:func:`avhubert_ami.transcribe.vad.speech_segments`: pause bridging, minimum length,
padding, the 40 ms grid). Several participants may be active at once.

Memory: frames and audio are read in chunks and dropped; what grows with the meeting are a few dozen bytes per
frame and participant (about 1.5 kB per second, under 3 MB per participant for 30 minutes, against 230 kB/s of
frames and 32 kB/s of audio). Measured peak (tracemalloc) for one participant: 18.3 MB at 2 minutes, 18.4 MB at 8.
Calibration (noise floors, still-mouth levels, room ratios) uses the whole meeting, so segments come at the end.

Limits: headsets are assumed recorded at comparable gain (no per-channel calibration: one recorded much hotter
shifts the crosstalk bound). The room check's margin is the crosstalk attenuation minus differences in how loud the
room hears each talker, so near 8 dB crosstalk the onset of a talker without a headset can leak into the wearers
for a few frames, and two wearers overlapping then score lower. With the room alone, the lips of one participant
moving while another speaks cannot be rejected (the room says someone speaks); in silence they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from avhubert_ami.data.constants import FPS, ROI_SIZE, SAMPLE_RATE
from avhubert_ami.transcribe.media import Wav16k
from avhubert_ami.transcribe.vad import GRID, VadConfig, frame_activity, speech_segments

#: One chunk of a participant's mouth frames: ``uint8 (T, 96, 96)``, or that with a ``bool (T,)`` face-found flag.
FrameChunk = Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]

MODES = ("av", "audio", "video")


@dataclass
class ActivityConfig:
    """Knobs of the activity detector (levels in dB, times in seconds)."""

    mode: str = "av"  # av | audio | video
    # lips
    lip_window_s: float = 0.36  # motion averaged over ~2 syllables: speech moves the mouth at 3-6 Hz
    lip_floor_quantile: float = 0.2  # the still-mouth motion level: participants are silent >= 20 % of a meeting
    lip_on_db: float = 3.0  # motion this far above the still level scores 0.5 (speech: 5-8 dB, chewing: 4-6)
    lip_slope_db: float = 1.0  # ... and +/- this many dB moves the score to 0.73 / 0.27
    # headsets
    vad_aggressiveness: int = 2  # WebRTC VAD mode, as the transcriber's VadConfig
    level_window_s: float = 0.2  # powers are averaged over this window before comparing channels
    noise_floor_quantile: float = 0.1  # a channel's noise floor: this quantile of its frame levels
    min_level_db: float = 10.0  # own speech is at least this far above the headset's noise floor
    crosstalk_db: float = 8.0  # another participant's voice is at least this much quieter in my headset
    own_margin_db: float = 3.0  # own speech exceeds the crosstalk bound by this much (score 0.5)
    own_slope_db: float = 1.0
    # room
    room_min_level_db: float = 6.0  # room speech is at least this far above the room's noise floor
    room_margin_db: float = 6.0  # a wearer's own voice explains the room level within this much (score 0.5)
    unexplained_db: float = 3.0  # room speech this far above what the wearers explain is someone without headset
    room_slope_db: float = 1.5
    # fusion and segments
    audio_weight: float = 0.65  # headset weight in av mode: audio alone starts a segment, lips alone never do
    on_threshold: float = 0.5
    off_threshold: float = 0.4  # > 1 - audio_weight: lips alone can neither start nor hold a segment
    min_speech_s: float = 0.2
    min_silence_s: float = 0.3
    pad_s: float = 0.08
    max_segment_s: Optional[float] = None  # split longer segments at their least active frame (None: never)

    def validate(self) -> None:
        """Raise ValueError for inconsistent settings."""
        if self.mode not in MODES:
            raise ValueError(f"activity mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0 < self.off_threshold <= self.on_threshold < 1:
            raise ValueError(
                f"need 0 < off_threshold <= on_threshold < 1, got {self.off_threshold} and {self.on_threshold}"
            )
        if not 0 <= self.audio_weight <= 1:
            raise ValueError(f"audio_weight must be in [0, 1], got {self.audio_weight}")
        if self.mode == "av" and 1 - self.audio_weight >= self.off_threshold:
            raise ValueError(
                f"in av mode the lips alone (at most 1 - audio_weight = {1 - self.audio_weight:.2f}) must stay below "
                f"off_threshold ({self.off_threshold}), or mouth motion could start or hold a segment"
            )
        if self.crosstalk_db <= 0:
            raise ValueError(f"crosstalk_db must be > 0, got {self.crosstalk_db}")


@dataclass
class Participant:
    """One meeting participant's inputs: mouth-ROI frame chunks at 25 fps (None: no camera) and a 16 kHz
    mono headset wav (None: no headset). ``frames`` is consumed once, chunk by chunk."""

    name: str
    frames: Optional[Iterable[FrameChunk]] = None
    headset: Optional[str] = None


class ActiveSegment(NamedTuple):
    """A stretch in which a participant speaks, with the mean fused activity score (0..1) over it."""

    start: float
    end: float
    score: float


@dataclass
class ParticipantActivity:
    """The detector's answer for one participant."""

    name: str
    segments: List[ActiveSegment]
    cues: List[str]  # the cues that fed the score: lips, headset, room
    notes: List[str] = field(default_factory=list)  # fallbacks and caveats, for the transcript's log
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # fused score per 25 fps frame


# ---------------------------------------------------------------------------------------------- lips
class LipMotion:
    """Streaming motion-compensated frame-difference energy of the mouth region (see the module docstring).

    :meth:`update` takes consecutive chunks and returns one value per frame: NaN for a frame without a face, or
    whose previous frame had none (there is nothing to compare it with)."""

    BIN = 2
    LO, HI = 16, 80  # rows and columns of the 96x96 ROI kept: the central 64x64, the lips with a margin
    BORDER = 3  # binned pixels dropped after registration (the circular shift wraps them)
    MAX_SHIFT = 3.0  # binned pixels: a larger jump is a cut or a tracking failure, not a nod

    def __init__(self, register: bool = True) -> None:
        self.register = register  # False: plain frame difference (kept for the benchmark's comparison)
        n = (self.HI - self.LO) // self.BIN
        self.n = n
        self.prev: Optional[Tuple[np.ndarray, np.ndarray, bool]] = None  # last frame seen, its spectrum, face flag
        ky = np.fft.fftfreq(n)[:, None]
        kx = np.fft.rfftfreq(n)[None, :]
        self._ky, self._kx = ky[None], kx[None]

    def _prepare(self, frames: np.ndarray) -> np.ndarray:
        b, lo, hi = self.BIN, self.LO, self.HI
        x = frames[:, lo:hi, lo:hi].astype(np.float32)
        x = x.reshape(len(x), self.n, b, self.n, b).mean(axis=(2, 4))
        x /= x.mean(axis=(1, 2), keepdims=True) + 1e-3  # lighting flicker and exposure changes are global gains
        x -= x.mean(axis=(1, 2), keepdims=True)
        return x

    def _shift(self, corr: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Sub-pixel peak (dy, dx) of circular correlation surfaces ``(T, n, n)``: argmax + parabola fit."""
        n, t = self.n, len(corr)
        flat = corr.reshape(t, -1).argmax(axis=1)
        iy, ix = flat // n, flat % n
        r = np.arange(t)

        def vertex(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
            den = a - 2 * b + c
            return np.where(np.abs(den) > 1e-9, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)

        c0 = corr[r, iy, ix]
        py = vertex(corr[r, (iy - 1) % n, ix], c0, corr[r, (iy + 1) % n, ix])
        px = vertex(corr[r, iy, (ix - 1) % n], c0, corr[r, iy, (ix + 1) % n])
        dy = np.where(iy > n // 2, iy - n, iy) + py
        dx = np.where(ix > n // 2, ix - n, ix) + px
        return np.clip(dy, -self.MAX_SHIFT, self.MAX_SHIFT), np.clip(dx, -self.MAX_SHIFT, self.MAX_SHIFT)

    def update(self, frames: np.ndarray, face: Optional[np.ndarray] = None) -> np.ndarray:
        """Motion of each frame of ``frames`` (``uint8 (T, 96, 96)``) against its predecessor, float32 ``(T,)``."""
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != (ROI_SIZE, ROI_SIZE):
            raise ValueError(f"mouth frames must be (T, {ROI_SIZE}, {ROI_SIZE}), got {frames.shape}")
        t = len(frames)
        ok = np.ones(t, bool) if face is None else np.asarray(face, bool).reshape(-1)
        if len(ok) != t:
            raise ValueError(f"face flags ({len(ok)}) do not match the frames ({t})")
        out = np.full(t, np.nan, np.float32)
        if t == 0:
            return out
        x = self._prepare(frames)
        spec = np.fft.rfft2(x)
        # each frame is compared with its predecessor: the last frame of the previous chunk for the first one
        # (the very first frame of the stream is compared with itself and marked invalid)
        last_x, last_s, last_ok = self.prev if self.prev is not None else (x[0], spec[0], False)
        x_all = np.concatenate([last_x[None], x])
        s_all = np.concatenate([last_s[None], spec])
        ok_all = np.concatenate([[last_ok], ok])
        if self.register:  # phase correlation: the normalised cross-power spectrum peaks at the shift
            cross = s_all[1:] * np.conj(s_all[:-1])
            dy, dx = self._shift(np.fft.irfft2(cross / (np.abs(cross) + 1e-6), s=(self.n, self.n)))
            phase = np.exp(-2j * np.pi * (self._ky * dy[:, None, None] + self._kx * dx[:, None, None]))
            prev = np.fft.irfft2(s_all[:-1] * phase, s=(self.n, self.n))
        else:
            prev = x_all[:-1]
        b = self.BORDER
        energy = np.abs(x_all[1:] - prev)[:, b:-b, b:-b].mean(axis=(1, 2))
        valid = ok & ok_all[:-1]
        out[valid] = energy[valid]
        self.prev = (x[-1], spec[-1], bool(ok[-1]))
        return out


def lip_motion(chunks: Iterable[FrameChunk], register: bool = True) -> np.ndarray:
    """Per-frame mouth motion (float32, NaN without a face) of a stream of frame chunks; chunks are not kept."""
    meter = LipMotion(register)
    parts = []
    for chunk in chunks:
        frames, face = chunk if isinstance(chunk, tuple) else (chunk, None)
        parts.append(meter.update(frames, face))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _nan_movavg(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average ignoring NaN; NaN where under half the window (within the signal) is valid."""
    ok = np.isfinite(x)
    k = np.ones(width)
    s = np.convolve(np.where(ok, x, 0.0), k, mode="same")
    c = np.convolve(ok.astype(float), k, mode="same")
    span = np.convolve(np.ones(len(x)), k, mode="same")  # the window shrinks at the ends
    return np.where(c >= span / 2, s / np.maximum(c, 1), np.nan)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def lip_scores(motion: np.ndarray, cfg: ActivityConfig) -> np.ndarray:
    """Per-frame lip activity 0..1 (NaN without a face) from :func:`lip_motion` output, against the
    participant's own still-mouth level."""
    width = max(1, int(round(cfg.lip_window_s * FPS)) | 1)
    smooth = _nan_movavg(np.asarray(motion, np.float64), width)
    db = 10 * np.log10(np.maximum(smooth, 1e-9))
    if not np.isfinite(db).any():
        return db.astype(np.float32)
    floor = float(np.nanquantile(db, cfg.lip_floor_quantile))
    return _sigmoid((db - floor - cfg.lip_on_db) / cfg.lip_slope_db).astype(np.float32)


# ---------------------------------------------------------------------------------------------- audio
class AudioFrames(NamedTuple):
    """A channel at 25 Hz: WebRTC speech flag and power (mean square of int16 samples) per 40 ms."""

    speech: np.ndarray
    power: np.ndarray


def audio_frames(path: str, aggressiveness: int = 2) -> AudioFrames:
    """VAD flags and powers of a 16 kHz mono wav per 25 fps frame, read in 30 s blocks."""
    import soundfile as sf

    info = sf.info(path)
    if (info.samplerate, info.channels) != (SAMPLE_RATE, 1):  # WebRTC's VAD would misread anything else
        raise ValueError(
            f"{path}: {info.samplerate} Hz with {info.channels} channel(s); activity needs {SAMPLE_RATE} Hz mono "
            "(avhubert_ami.transcribe.media.decode_audio_to_wav converts)"
        )
    speech, energy = frame_activity(Wav16k(path).blocks(), aggressiveness)  # per 20 ms
    n = -(-len(speech) // GRID) * GRID
    speech = np.pad(speech, (0, n - len(speech)))
    power = np.pad(10.0 ** energy.astype(np.float64) - 1.0, (0, n - len(energy)))
    return AudioFrames(speech.reshape(-1, GRID).any(axis=1), power.reshape(-1, GRID).mean(axis=1))


def _fit(x: np.ndarray, n: int, fill: float) -> np.ndarray:
    return np.concatenate([x[:n], np.full(max(0, n - len(x)), fill, dtype=x.dtype)])


def _movavg(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    return np.convolve(np.pad(x, width // 2, mode="edge"), np.ones(width) / width, mode="valid")[: len(x)]


def _db(p: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(p, 1e-3))


@dataclass
class _Channel:
    """A channel's 25 Hz features for the fusion: VAD, smoothed power, noise floor power."""

    speech: np.ndarray
    power: np.ndarray
    floor: float

    @classmethod
    def build(cls, frames: AudioFrames, n: int, cfg: ActivityConfig) -> "_Channel":
        power = _movavg(_fit(frames.power, n, 0.0), max(1, int(round(cfg.level_window_s * FPS))))
        floor = float(np.quantile(power, cfg.noise_floor_quantile)) if n else 0.0
        return cls(_fit(frames.speech, n, False), power, max(floor, 1.0))

    def loud(self, above_db: float) -> np.ndarray:
        return _db(self.power) >= _db(np.asarray(self.floor)) + above_db


def _headset_scores(channels: Sequence[_Channel], cfg: ActivityConfig) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Own-speech score 0..1 of each headset and its own-voice power (power above the crosstalk bound)."""
    g = 10.0 ** (-cfg.crosstalk_db / 10.0)
    total = np.sum([c.power for c in channels], axis=0) if channels else None
    scores, own = [], []
    for c in channels:
        bound = g * (total - c.power)
        own_db = _db(c.power) - _db(bound + c.floor)
        gate = c.speech & c.loud(cfg.min_level_db)
        scores.append(gate * _sigmoid((own_db - cfg.own_margin_db) / cfg.own_slope_db))
        own.append(np.maximum(c.power - bound, 0.0))
    return scores, own


def _room_ratios(
    scores: Sequence[np.ndarray], own: Sequence[np.ndarray], room: _Channel, room_speech: np.ndarray
) -> List[Optional[float]]:
    """Per wearer, room power / own headset power where they alone speak (a low quantile: frames where a
    talker without headset fooled the headset test show a larger ratio). None without such frames."""
    out: List[Optional[float]] = []
    for i, (a, p) in enumerate(zip(scores, own)):
        alone = (a > 0.9) & room_speech & (p > 0)
        for j, b in enumerate(scores):
            if j != i:
                alone &= b < 0.1
        if alone.sum() < FPS:  # under a second of evidence
            out.append(None)
            continue
        out.append(float(np.quantile(room.power[alone] / p[alone], 0.25)))
    return out


# ---------------------------------------------------------------------------------------------- segments
def hysteresis(scores: np.ndarray, on: float, off: float) -> np.ndarray:
    """Frames in runs of ``scores >= off`` that reach ``on`` somewhere (enter at ``on``, leave below ``off``)."""
    above = np.nan_to_num(scores, nan=0.0) >= off
    d = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    out = np.zeros(len(scores), bool)
    for s, e in zip(starts, ends):
        if np.nanmax(scores[s:e]) >= on:
            out[s:e] = True
    return out


def score_segments(scores: np.ndarray, cfg: ActivityConfig) -> List[ActiveSegment]:
    """Active segments of a per-frame (25 fps) score: hysteresis, then the transcriber's bridging, minimum length
    and padding (:func:`avhubert_ami.transcribe.vad.speech_segments`, fed at its 20 ms rate)."""
    flags = hysteresis(scores, cfg.on_threshold, cfg.off_threshold)
    vad_cfg = VadConfig(
        min_silence_s=cfg.min_silence_s,
        min_speech_s=cfg.min_speech_s,
        pad_s=cfg.pad_s,
        edge_drop_db=0.0,
        max_segment_s=cfg.max_segment_s if cfg.max_segment_s else 1e9,
    )
    clean = np.nan_to_num(scores, nan=0.0)
    spans = speech_segments(np.repeat(flags, GRID), np.repeat(clean, GRID).astype(np.float32), vad_cfg)
    n = len(scores)
    out = []
    for start, end in spans:
        a, b = int(round(start * FPS)), min(n, int(round(end * FPS)))
        score = float(clean[a:b].mean()) if b > a else 0.0
        out.append(ActiveSegment(round(start, 3), round(min(end, n / FPS), 3), score))
    return out


def segments_to_frames(segments: Iterable[Sequence[float]], n_frames: int) -> np.ndarray:
    """Boolean activity per 25 fps frame of ``[(start_s, end_s, ...)]`` (for scoring and overlap checks)."""
    out = np.zeros(n_frames, bool)
    for seg in segments:
        out[int(round(seg[0] * FPS)) : int(round(seg[1] * FPS))] = True
    return out


# ---------------------------------------------------------------------------------------------- detector
def _seconds(n: int) -> str:
    return f"{n / FPS:.1f} s"


def detect_activity(
    participants: Sequence[Participant], room: Optional[str] = None, cfg: Optional[ActivityConfig] = None
) -> List[ParticipantActivity]:
    """Speaker activity of each participant of a meeting (see the module docstring), in input order.

    Each source is streamed once: ``frames`` chunk by chunk, wavs in 30 s blocks. The meeting lasts as long
    as its longest source; a shorter one counts as silent (audio) or faceless (video) past its end."""
    cfg = cfg or ActivityConfig()
    cfg.validate()
    names = [p.name for p in participants]
    if len(set(names)) != len(names):
        raise ValueError(f"participant names must be unique, got {names}")

    notes: Dict[str, List[str]] = {p.name: [] for p in participants}
    # one streaming pass per source; audio is read in video mode too, as the fallback where there is no face
    motion = {p.name: lip_motion(p.frames) for p in participants if p.frames is not None and cfg.mode != "audio"}
    head = {p.name: audio_frames(p.headset, cfg.vad_aggressiveness) for p in participants if p.headset}
    room_frames = audio_frames(room, cfg.vad_aggressiveness) if room else None
    lengths = [len(m) for m in motion.values()] + [len(a.power) for a in head.values()]
    n = max(lengths + ([len(room_frames.power)] if room_frames is not None else []), default=0)

    lips = {name: lip_scores(_fit(m, n, np.nan), cfg) for name, m in motion.items()}
    wearers = [p.name for p in participants if p.name in head]
    bare = [p.name for p in participants if p.name not in head]
    own_scores, own_power = _headset_scores([_Channel.build(head[w], n, cfg) for w in wearers], cfg)
    audio: Dict[str, np.ndarray] = dict(zip(wearers, own_scores))
    if room_frames is not None:
        audio.update(_room_cue(_Channel.build(room_frames, n, cfg), wearers, bare, own_scores, own_power, cfg, notes))
    else:
        for b in bare:
            notes[b].append("no headset and no room audio")

    out = []
    for p in participants:
        fused, cues = _fuse(p, lips.get(p.name), audio.get(p.name), n, cfg, notes[p.name], wearer=p.name in head)
        segments = score_segments(fused, cfg)
        out.append(ParticipantActivity(p.name, segments, cues, notes[p.name], fused.astype(np.float32)))
    return out


def _room_cue(
    rc: _Channel,
    wearers: Sequence[str],
    bare: Sequence[str],
    own_scores: Sequence[np.ndarray],
    own_power: Sequence[np.ndarray],
    cfg: ActivityConfig,
    notes: Dict[str, List[str]],
) -> Dict[str, np.ndarray]:
    """Audio scores from the room channel: the wearers' headset scores checked against the room (when someone
    has no headset) and, for the participants without a headset, the room speech the wearers do not explain."""
    room_speech = rc.speech & rc.loud(cfg.room_min_level_db)
    ratios = _room_ratios(own_scores, own_power, rc, room_speech)
    known = [r for r in ratios if r is not None]
    audio: Dict[str, np.ndarray] = {}
    for i, w in enumerate(wearers):
        if ratios[i] is None and known:
            ratios[i] = float(np.median(known))  # the room hears the table about alike
            notes[w].append("never the only talker: room/headset level ratio borrowed from the others")
    calibrated = [(w, a, p, r) for w, a, p, r in zip(wearers, own_scores, own_power, ratios) if r is not None]
    if bare and calibrated:
        # A talker without a headset leaks into every headset alike, which the headset comparison cannot see;
        # the room then hears far more (the crosstalk attenuation) than any wearer's own voice gives. The
        # loudest wearer is the reference, so two wearers talking at once (room +3 dB) pass.
        predicted = np.max([r * p for _, _, p, r in calibrated], axis=0) + rc.floor
        excess = _db(rc.power) - _db(predicted)
        for w, a, _, _ in calibrated:
            audio[w] = a * _sigmoid((cfg.room_margin_db - excess) / cfg.room_slope_db)
    explained = np.full(len(rc.power), rc.floor)
    for w, a, p, r in calibrated:
        explained = explained + audio.get(w, a) * r * p
    unexplained = room_speech * _sigmoid((_db(rc.power) - _db(explained) - cfg.unexplained_db) / cfg.room_slope_db)
    for b in bare:
        audio[b] = unexplained
        notes[b].append("no headset: room channel used" + (", lips attribute it" if cfg.mode == "av" else ""))
        if cfg.mode == "audio" and len(bare) > 1:
            notes[b].append(f"{len(bare)} participants share the room channel: audio alone cannot tell them apart")
    return audio


def _fuse(
    p: Participant,
    v: Optional[np.ndarray],
    a: Optional[np.ndarray],
    n: int,
    cfg: ActivityConfig,
    notes: List[str],
    wearer: bool,
) -> Tuple[np.ndarray, List[str]]:
    """Fused per-frame score of one participant and the cues it used; frames without a face fall back to audio."""
    audio_cue = "headset" if wearer else "room"
    if cfg.mode == "audio" or v is None:
        if a is None:
            notes.append("no audio for this participant" + ("" if cfg.mode == "audio" else " and no camera"))
            return np.zeros(n), []
        if cfg.mode != "audio":
            notes.append("no camera: audio activity only")
        return a, [audio_cue]
    missing = np.isnan(v)
    if cfg.mode == "video" or a is None:
        if a is None and cfg.mode == "av":
            notes.append("no audio: lips only (non-speech mouth motion cannot be rejected)")
        fused, cues = v.astype(np.float64), ["lips"]
    elif wearer:  # audio suffices, lips alone never reach on_threshold, lips decide where audio is unsure
        fused, cues = cfg.audio_weight * a + (1 - cfg.audio_weight) * v, ["lips", audio_cue]
    else:  # the room says someone speaks, the lips say who
        fused, cues = np.minimum(a, v), ["lips", audio_cue]
    if missing.any():
        lost = _seconds(int(missing.sum()))
        if a is None:
            fused = np.where(missing, 0.0, fused)
            notes.append(f"face lost for {lost} and no audio: inactive there")
        else:
            fused = np.where(missing, a, fused)
            notes.append(f"face lost for {lost}: audio activity used there")
            if audio_cue not in cues:
                cues.append(audio_cue)
    return fused, cues
