"""Additive noise augmentation as upstream AV-HuBERT: mix noise wavs into the wave at a given SNR."""

from __future__ import annotations

import functools
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from avhubert_ami.data.audio import read_audio


def parse_snr(value) -> Tuple[float, float]:
    """``"0"`` -> (0, 0); ``"-5,5"`` / ``"(-5, 5)"`` / ``"-5:5"`` -> (-5, 5); numbers and pairs pass through."""
    if isinstance(value, (int, float)):
        return float(value), float(value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"noise_snr: expected one value or a (low, high) pair, got {value!r}")
        lo, hi = float(value[0]), float(value[1])
    else:
        text = str(value).strip().strip("()[]")
        parts = [p for p in text.replace(":", ",").split(",") if p.strip()]
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"noise_snr: cannot parse {value!r} (use e.g. '0' or '-5,5')") from None
        if len(nums) == 1:
            nums = nums * 2
        if len(nums) != 2:
            raise ValueError(f"noise_snr: expected one value or a low,high pair, got {value!r}")
        lo, hi = nums
    if lo > hi:
        raise ValueError(f"noise_snr: low {lo} > high {hi}")
    return lo, hi


def noise_list_path(noise_wav: str, split: str) -> str:
    """Upstream's layout is a folder holding ``{split}.tsv``; a plain file is used for every split."""
    return os.path.join(noise_wav, f"{split}.tsv") if os.path.isdir(noise_wav) else noise_wav


def read_noise_list(path: str) -> List[str]:
    """One wav path per line (relative paths are relative to the list file)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: noise list not found (one wav path per line)")
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        paths = [line.strip().split("\t")[0] for line in f if line.strip()]
    if not paths:
        raise ValueError(f"{path}: noise list is empty")
    return [p if os.path.isabs(p) else os.path.join(base, p) for p in paths]


@functools.lru_cache(maxsize=16)
def _load_noise(path: str) -> np.ndarray:
    return read_audio(path, resample=True, mono=True)


class NoiseMixer:
    """Mix ``num`` random noise files (averaged) into a wave at an SNR drawn from ``snr``."""

    def __init__(self, paths: Sequence[str], prob: float, snr=(0.0, 0.0), num: int = 1) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"noise_prob must be in [0, 1], got {prob}")
        if prob > 0 and not paths:
            raise ValueError("noise_prob > 0 needs a noise list (task.noise_wav)")
        self.paths, self.prob, self.snr, self.num = list(paths), prob, parse_snr(snr), max(1, int(num))

    def maybe_mix(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """With probability ``prob`` return ``wave`` + scaled noise; otherwise ``wave`` unchanged."""
        if self.prob <= 0 or rng.random() >= self.prob:
            return wave
        picks = [_load_noise(self.paths[i]) for i in rng.integers(0, len(self.paths), size=self.num)]
        n = min(len(p) for p in picks)
        noise = np.mean([p[:n] for p in picks], axis=0) if self.num > 1 else picks[0]
        snr = float(rng.uniform(*self.snr)) if self.snr[0] < self.snr[1] else self.snr[0]
        return mix_at_snr(wave, noise, snr)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Tile/cut ``noise`` to ``clean``'s length, scale it to ``snr_db`` and add; rescale to avoid clipping."""
    clean = np.asarray(clean, dtype=np.float32)
    if len(noise) == 0:
        return clean
    if len(noise) < len(clean):
        noise = np.tile(noise, -(-len(clean) // len(noise)))
    noise = noise[: len(clean)].astype(np.float32)
    clean_rms = float(np.sqrt(np.mean(np.square(clean, dtype=np.float64))))
    noise_rms = float(np.sqrt(np.mean(np.square(noise, dtype=np.float64))))
    if noise_rms == 0.0:
        return clean
    mixed = clean + noise * np.float32(clean_rms / (10 ** (snr_db / 20)) / noise_rms)
    peak = float(np.abs(mixed).max())
    if peak > 1.0:
        mixed /= np.float32(peak)
    return mixed


def build_noise_mixer(noise_wav: Optional[str], split: str, prob: float, snr, num: int = 1) -> Optional[NoiseMixer]:
    """The mixer for ``split`` or ``None`` when noise is off (``prob == 0``) or no list is configured."""
    if prob <= 0:
        return None
    if not noise_wav:
        raise ValueError("noise_prob > 0 needs task.noise_wav (a noise list file, or a folder with {split}.tsv)")
    return NoiseMixer(read_noise_list(noise_list_path(noise_wav, split)), prob, snr, num)
