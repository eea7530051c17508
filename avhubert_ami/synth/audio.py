"""Source-filter speech synthesis for the synthetic corpus (numpy only, vectorised over frames).

A phone timeline (``[(phone, n_video_frames), ...]``) becomes per-10 ms parameter tracks
(formants F1-F3, voicing, frication and aspiration amplitudes, frication band). Formant tracks
are smoothed across phone boundaries (coarticulation). Two sources -- an impulse train at the
speaker's f0 and white noise -- are filtered in the STFT domain (sqrt-Hann, 50 % overlap, so an
unmodified signal reconstructs exactly): voicing through the cascade formant resonators,
frication through a Gaussian band, aspiration through the formants. Output length is exactly
``n_video_frames * 640`` samples at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from avhubert_ami.synth.lexicon import PHONES

SAMPLE_RATE = 16000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
HOP = 160  # 10 ms parameter/STFT hop
HOPS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4
N_FFT = 2 * HOP
_WIN = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT))  # periodic sqrt-Hann
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
_BANDWIDTHS = np.array([90.0, 110.0, 170.0])
_NOISE_GAIN = 0.05  # frication level relative to the voiced source (calibrated by ear/RMS)

Timeline = Sequence[Tuple[str, int]]


@dataclass(frozen=True)
class Voice:
    """Speaker voice: mean f0 (Hz), formant scale (vocal-tract length), breathiness (0..1),
    spectral tilt exponent and loudness (dB)."""

    f0: float
    formant_scale: float
    breathiness: float
    tilt: float
    gain_db: float


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 with edge padding (``width`` odd)."""
    if width <= 1:
        return x
    pad = width // 2
    xp = np.concatenate([np.repeat(x[:1], pad, 0), x, np.repeat(x[-1:], pad, 0)], axis=0)
    c = np.cumsum(np.concatenate([np.zeros_like(xp[:1]), xp], axis=0), axis=0)
    return (c[width:] - c[:-width]) / width


def parameter_tracks(timeline: Timeline, voice: Voice) -> dict:
    """Per-hop synthesis targets for ``timeline`` (arrays of length ``n_frames * 4``)."""
    n_hops = sum(n for _, n in timeline) * HOPS_PER_FRAME
    formants = np.empty((n_hops, 3))
    av, an, ah = np.zeros(n_hops), np.zeros(n_hops), np.zeros(n_hops)
    nc, nbw = np.full(n_hops, 4000.0), np.full(n_hops, 1000.0)
    pos = 0
    for name, n_frames in timeline:
        ph = PHONES[name]
        h = n_frames * HOPS_PER_FRAME
        seg = slice(pos, pos + h)
        formants[seg] = ph.formants
        nc[seg], nbw[seg] = ph.nc or 4000.0, ph.nbw or 1000.0
        if ph.kind in ("vowel", "glide", "nasal"):
            av[seg] = ph.av
        elif ph.kind == "fric":
            av[seg] = ph.av
            if ph.nbw > 0:
                an[seg] = ph.an
            else:
                ah[seg] = ph.an
        elif ph.kind in ("stop", "affric"):
            release = 1 if ph.kind == "stop" else 3
            closure = max(h - release - (1 if ph.kind == "stop" else 0), 1)
            av[pos : pos + closure] = ph.av  # voice bar for voiced stops
            rel = slice(pos + closure, pos + closure + release)
            an[rel] = ph.an
            if ph.kind == "stop" and closure + 1 < h:  # aspiration (voiceless) / voicing onset (voiced)
                tail = slice(pos + closure + 1, pos + h)
                if ph.av == 0:
                    ah[tail] = 0.15
                else:
                    av[tail] = 0.5
        pos += h
    formants = smooth(formants, 7) * voice.formant_scale
    av = smooth(av, 3)
    ah = smooth(ah, 3) + voice.breathiness * 0.08 * av
    return {"formants": formants, "av": av, "an": an, "ah": ah, "nc": nc * voice.formant_scale, "nbw": nbw}


def _formant_envelope(formants: np.ndarray, tilt: float) -> np.ndarray:
    """Cascade resonator magnitude (DC gain 1) times a source tilt, ``(n_frames, n_bins)``."""
    f = _FREQS[None, :, None]
    fc = formants[:, None, :]
    mag = fc**2 / np.sqrt((fc**2 - f**2) ** 2 + (_BANDWIDTHS * f) ** 2)
    env = mag.prod(axis=2)
    return env * (1.0 + _FREQS / 300.0) ** (-tilt) * (_FREQS / (_FREQS + 60.0))


def _frames(x: np.ndarray, n_hops: int) -> np.ndarray:
    xp = np.pad(x, (HOP, HOP))
    idx = np.arange(n_hops + 1)[:, None] * HOP + np.arange(N_FFT)[None, :]
    return xp[idx] * _WIN


def _overlap_add(frames: np.ndarray, n_hops: int) -> np.ndarray:
    halves = frames.reshape(n_hops + 1, 2, HOP)
    out = halves[1:, 0] + halves[:-1, 1]  # block b = first half of frame b+1 + second half of frame b
    return out.reshape(-1)


def f0_track(n_hops: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """Declining f0 contour with slow random wobble (Hz per hop)."""
    t = np.linspace(0.0, 1.0, n_hops)
    wobble = smooth(rng.normal(0.0, 1.0, n_hops + 40), 41)[:n_hops]
    wobble /= max(float(np.abs(wobble).max()), 1e-6)
    base = voice.f0 * rng.uniform(0.93, 1.07)
    return base * (1.08 - 0.16 * t) * (1.0 + 0.06 * wobble)


def synthesize(timeline: Timeline, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """Waveform (float32, ``n_frames * 640`` samples, RMS set by ``voice.gain_db``) for ``timeline``."""
    tracks = parameter_tracks(timeline, voice)
    n_hops = len(tracks["av"])
    n = n_hops * HOP
    f0 = np.interp(np.arange(n) / HOP, np.arange(n_hops), f0_track(n_hops, voice, rng))
    phase = np.cumsum(f0 / SAMPLE_RATE)
    pulses = np.zeros(n)
    ticks = np.flatnonzero(np.diff(np.floor(phase), prepend=0.0) > 0)
    pulses[ticks] = SAMPLE_RATE / f0[ticks] / 100.0  # flat harmonic amplitude whatever the f0
    noise = rng.standard_normal(n)

    idx = np.minimum(np.arange(n_hops + 1), n_hops - 1)
    env = _formant_envelope(tracks["formants"][idx], voice.tilt)
    band = np.exp(-0.5 * ((_FREQS[None, :] - tracks["nc"][idx, None]) / tracks["nbw"][idx, None]) ** 2)
    spec_v = np.fft.rfft(_frames(pulses, n_hops), axis=1) * (env * tracks["av"][idx, None])
    noise_shape = _NOISE_GAIN * (band * tracks["an"][idx, None] + 0.3 * env * tracks["ah"][idx, None])
    spec_n = np.fft.rfft(_frames(noise, n_hops), axis=1) * noise_shape
    wave = _overlap_add(np.fft.irfft(spec_v + spec_n, n=N_FFT, axis=1) * _WIN, n_hops)
    rms = float(np.sqrt(np.mean(wave**2))) or 1.0
    wave *= 10.0 ** (voice.gain_db / 20.0) / rms
    wave += rng.normal(0.0, 3e-4, n)  # microphone floor
    return np.clip(wave, -1.0, 1.0).astype(np.float32)
