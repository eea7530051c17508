"""Noise for the synthetic corpus: babble made of other synthetic speakers, white noise, SNR mixing."""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

from avhubert_ami.synth.audio import SAMPLE_RATE, synthesize
from avhubert_ami.synth.speakers import Speaker, sample_words, utterance_timeline

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
    """``clean`` plus an excerpt of ``noise`` starting at a random offset (looped when short), scaled
    to ``snr_db`` over the whole utterance (the task's own mixer, as upstream's ``add_noise``)."""
    from avhubert_ami.data.noise import mix_at_snr as mix

    start = int(rng.integers(0, len(noise)))
    return mix(clean, np.roll(noise, -start), snr_db)
