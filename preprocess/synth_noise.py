"""Noise for the synthetic corpus: babble made of other synthetic speakers, white noise, SNR mixing."""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

from preprocess.synth_audio import SAMPLE_RATE, synthesize
from preprocess.synth_speakers import Speaker, sample_words, utterance_timeline

NOISE_TYPES = ("babble", "white", "mixed")


def babble(speakers: Sequence[Speaker], n_samples: int, talkers: int, rng: np.random.Generator) -> np.ndarray:
    """``talkers`` overlapping streams of random meeting utterances by ``speakers``, summed
    (each stream at equal RMS), float32 of ``n_samples`` with RMS 0.05."""
    out = np.zeros(n_samples, dtype=np.float64)
    for _ in range(talkers):
        parts: List[np.ndarray] = [np.zeros(int(rng.integers(0, SAMPLE_RATE)), dtype=np.float32)]
        total = len(parts[0])
        while total < n_samples:
            spk = speakers[int(rng.integers(len(speakers)))]
            tl, _ = utterance_timeline(sample_words(rng, 2, 6), spk, rng)
            parts.append(synthesize(tl, spk.voice, rng))
            total += len(parts[-1])
        stream = np.concatenate(parts)[:n_samples]
        out += stream / (np.sqrt(np.mean(stream**2)) + 1e-9)
    return (0.05 * out / (np.sqrt(np.mean(out**2)) + 1e-9)).astype(np.float32)


def white(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise with RMS 0.05."""
    return (0.05 * rng.standard_normal(n_samples)).astype(np.float32)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``clean`` plus a random (looped) excerpt of ``noise`` scaled to ``snr_db`` (whole-utterance RMS,
    as upstream AV-HuBERT's ``add_noise``); the mix is scaled down, never clipped, if it exceeds 1."""
    n = len(clean)
    if len(noise) < n:
        noise = np.tile(noise, int(np.ceil(n / len(noise))))
    start = int(rng.integers(0, len(noise) - n + 1))
    seg = noise[start : start + n].astype(np.float64)
    clean_rms = np.sqrt(np.mean(clean.astype(np.float64) ** 2))
    noise_rms = np.sqrt(np.mean(seg**2)) + 1e-12
    mixed = clean + seg * (clean_rms / (10.0 ** (snr_db / 20.0)) / noise_rms)
    peak = float(np.abs(mixed).max())
    if peak > 0.99:
        mixed *= 0.99 / peak
    return mixed.astype(np.float32)
