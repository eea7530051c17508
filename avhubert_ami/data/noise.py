"""Additive noise augmentation as upstream AV-HuBERT: mix noise wavs into the wave at a given SNR; and
interfering speech: another utterance of the training split mixed in the same way (:class:`SpeechInterference`)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from avhubert_ami.data.audio import read_audio
from avhubert_ami.data.constants import SAMPLE_RATE


def parse_snr(value, name: str = "noise_snr") -> Tuple[float, float]:
    """``"0"`` -> (0, 0); ``"-5,5"`` / ``"(-5, 5)"`` / ``"-5:5"`` -> (-5, 5); numbers and pairs pass through.

    ``name`` is the option that errors name.
    """
    if isinstance(value, (int, float)):
        lo = hi = float(value)
    elif isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: expected one value or a (low, high) pair, got {value!r}")
        lo, hi = float(value[0]), float(value[1])
    else:
        text = str(value).strip().strip("()[]")
        parts = [p for p in text.replace(":", ",").split(",") if p.strip()]
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"{name}: cannot parse {value!r} (use e.g. '0' or '-5,5')") from None
        if len(nums) == 1:
            nums = nums * 2
        if len(nums) != 2:
            raise ValueError(f"{name}: expected one value or a low,high pair, got {value!r}")
        lo, hi = nums
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: SNR must be finite, got {value!r}")
    if lo > hi:
        raise ValueError(f"{name}: low {lo} > high {hi}")
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


# ---- interfering speech -----------------------------------------------------------------------------------
# AV-HuBERT's noisy fine-tuning draws "speech" as one of its noise categories (clips cut from training
# utterances); here the interferer is another utterance of the split being trained on, so that the lips are
# what tells the target voice from the other one.

_SOUNDFILE_EXTS = (".wav", ".flac")


def check_interference(prob: float, snr) -> Tuple[float, float]:
    """Validate ``interference_prob`` / ``interference_snr``; return the SNR range in dB."""
    if not 0.0 <= float(prob) <= 1.0:
        raise ValueError(f"interference_prob must be in [0, 1], got {prob}")
    return parse_snr(snr, name="interference_snr")


@dataclass(frozen=True)
class Interference:
    """What :meth:`SpeechInterference.maybe_mix` mixed in: utterance ``index``'s samples from ``start``
    (looped when shorter than the target), at ``snr_db`` dB of the target over it."""

    index: int
    start: int
    snr_db: float


class SpeechInterference:
    """Mix the audio of another utterance of the same split into a wave, at an SNR drawn from ``snr``.

    ``paths[i]`` / ``speakers[i]`` are the audio file (None: no audio, never an interferer) and speaker
    (None: unknown) of dataset item ``i``. The interferer is never item ``i`` itself and, when speakers are
    known, never the same speaker; rows of unknown speaker only exclude rows of the same audio file. When
    every candidate shares the target's speaker, any other row is used.
    """

    def __init__(
        self,
        paths: Sequence[Optional[str]],
        speakers: Sequence[Optional[str]],
        prob: float,
        snr=(0.0, 10.0),
        resample: bool = False,
        mono: bool = False,
    ) -> None:
        if len(paths) != len(speakers):
            raise ValueError(f"{len(paths)} audio paths but {len(speakers)} speakers")
        self.snr = check_interference(prob, snr)
        self.prob, self.paths, self.resample, self.mono = float(prob), list(paths), resample, mono
        # Candidates sorted by group (speaker, or audio file when the speaker is unknown), so "any row outside
        # the target's group" is one contiguous-range exclusion: an O(1) draw, whatever the split's size.
        keys = {i: ("speaker", s) if s else ("file", p) for i, (p, s) in enumerate(zip(paths, speakers)) if p}
        self.order = np.asarray(sorted(keys, key=lambda i: (keys[i], i)), dtype=np.int64)
        self._pos = {int(i): n for n, i in enumerate(self.order)}
        self._group: Dict[int, Tuple[int, int]] = {}  # item -> (first position, size) of its group in order
        first = 0
        for n in range(1, len(self.order) + 1):
            if n == len(self.order) or keys[int(self.order[n])] != keys[int(self.order[first])]:
                for i in self.order[first:n]:
                    self._group[int(i)] = (first, n - first)
                first = n

    def __len__(self) -> int:
        """Number of rows that can interfere."""
        return len(self.order)

    def draw_other(self, index: int, rng: np.random.Generator) -> Optional[int]:
        """A random interfering item for ``index`` (see the class doc), or None when the split has no other."""
        n = len(self.order)
        if index not in self._pos or n < 2:
            return None
        start, size = self._group[index]
        if size < n:  # another group exists: skip over the target's own group
            r = int(rng.integers(n - size))
            return int(self.order[r + size if r >= start else r])
        r = int(rng.integers(n - 1))  # one speaker (or file) throughout: any other row
        pos = self._pos[index]
        return int(self.order[r + 1 if r >= pos else r])

    def maybe_mix(
        self, wave: np.ndarray, index: int, rng: np.random.Generator
    ) -> Tuple[np.ndarray, Optional[Interference]]:
        """With probability ``prob``: ``wave`` + another utterance cut (or looped) to its length and scaled to
        the drawn SNR, and what was mixed; otherwise ``(wave, None)``."""
        if self.prob <= 0 or rng.random() >= self.prob:
            return wave, None
        other = self.draw_other(index, rng)
        if other is None:
            return wave, None
        snr = float(rng.uniform(*self.snr)) if self.snr[0] < self.snr[1] else self.snr[0]
        segment, start = self._segment(self.paths[other], len(wave), rng)
        return mix_at_snr(wave, segment, snr), Interference(other, start, snr)

    def _segment(self, path: str, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, int]:
        """``n`` samples of ``path`` from a random start (all of it when shorter) and that start; a 16 kHz
        mono wav/flac is read from disk only in that range."""
        if os.path.splitext(path)[1].lower() in _SOUNDFILE_EXTS:
            import soundfile as sf

            try:
                with sf.SoundFile(path) as f:
                    if f.samplerate == SAMPLE_RATE and f.channels == 1 and f.frames > 0:
                        start = int(rng.integers(f.frames - n + 1)) if f.frames > n else 0
                        f.seek(start)
                        return f.read(min(n, f.frames), dtype="float32"), start
            except (RuntimeError, OSError):
                pass  # read_audio below reports it with the usual advice
        wave = read_audio(path, resample=self.resample, mono=self.mono)  # other rates/channels/containers
        start = int(rng.integers(len(wave) - n + 1)) if len(wave) > n else 0
        return wave[start : start + n], start
