"""Audio features of AV-HuBERT: log Mel filterbank (26) at 100 Hz, stacked 4 -> 104-dim at 25 Hz.

Upstream computes ``python_speech_features.logfbank`` on the raw int16 samples; waves here
are floats in [-1, 1], so they are scaled by 32768 first (``int16_scale``) to give
identical features (this matters for the log floor and for models trained without
normalisation).
"""

from __future__ import annotations

import functools
import os
from typing import Optional

import numpy as np
import torch

from avhubert_ami.data.constants import SAMPLE_RATE

N_FILTERS = 26
STACK_ORDER = 4
INT16_SCALE = 32768.0


WIN_S, HOP_S, NFFT, PREEMPH = 0.025, 0.01, 512, 0.97


@functools.lru_cache(maxsize=8)
def _mel_filters(sample_rate: int) -> np.ndarray:
    from python_speech_features import get_filterbanks

    return np.ascontiguousarray(get_filterbanks(N_FILTERS, NFFT, sample_rate).T)  # (NFFT/2+1, 26)


def logfbank(wave: np.ndarray, sample_rate: int = SAMPLE_RATE, int16_scale: bool = True) -> np.ndarray:
    """``python_speech_features.logfbank`` (26 filters, 25 ms window, 10 ms hop) -> ``float32 (N, 26)``.

    Same arithmetic as the library (pre-emphasis 0.97, rectangular window, 512-point power
    spectrum, its Mel filters), with the frames taken as a strided view instead of a gather.
    """
    signal = np.asarray(wave, dtype=np.float64)
    if int16_scale:
        signal = signal * INT16_SCALE
    signal = np.append(signal[0], signal[1:] - PREEMPH * signal[:-1])
    win, hop = int(round(WIN_S * sample_rate)), int(round(HOP_S * sample_rate))
    n = len(signal)
    n_frames = 1 if n <= win else 1 + int(np.ceil((n - win) / hop))
    padded = np.concatenate([signal, np.zeros((n_frames - 1) * hop + win - n)])
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, win), strides=(hop * padded.strides[0], padded.strides[0]), writeable=False
    )
    pspec = 1.0 / NFFT * np.square(np.absolute(np.fft.rfft(frames, NFFT)))
    feat = np.dot(pspec, _mel_filters(sample_rate))
    feat = np.where(feat == 0, np.finfo(float).eps, feat)
    return np.log(feat).astype(np.float32)


def stack_frames(feats: np.ndarray, stack_order: int = STACK_ORDER) -> np.ndarray:
    """Concatenate ``stack_order`` consecutive frames: ``(N, F) -> (ceil(N/k), k*F)`` (zero-padded as upstream)."""
    n, dim = feats.shape
    rem = (-n) % stack_order
    if rem:
        feats = np.concatenate([feats, np.zeros((rem, dim), dtype=feats.dtype)], axis=0)
    return feats.reshape(-1, stack_order * dim)


def fit_length(feats: np.ndarray, n_frames: int) -> np.ndarray:
    """Trim or zero-pad the time axis to exactly ``n_frames`` (upstream aligns audio to video this way)."""
    diff = len(feats) - n_frames
    if diff > 0:
        return feats[:n_frames]
    if diff < 0:
        pad = np.zeros((-diff,) + feats.shape[1:], dtype=feats.dtype)
        return np.concatenate([feats, pad], axis=0)
    return feats


def num_feature_frames(n_samples: int, sample_rate: int = SAMPLE_RATE, stack_order: int = STACK_ORDER) -> int:
    """Number of stacked feature frames :func:`audio_features` yields for ``n_samples`` samples."""
    win, hop = int(round(0.025 * sample_rate)), int(round(0.01 * sample_rate))
    n = 1 if n_samples <= win else 1 + int(np.ceil((n_samples - win) / hop))
    return -(-n // stack_order)


def audio_features(
    wave: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    stack_order: int = STACK_ORDER,
    n_frames: Optional[int] = None,
    normalize: bool = False,
    int16_scale: bool = True,
) -> torch.Tensor:
    """Wave -> ``FloatTensor (T, 26*stack_order)``; ``n_frames`` trims/pads T; ``normalize`` layer-norms each frame.

    ``normalize`` is upstream's ``F.layer_norm(feats, feats.shape[1:])`` (over the feature
    dimension, no affine, eps 1e-5), applied after the length fit.
    """
    return finish_features(stack_frames(logfbank(wave, sample_rate, int16_scale), stack_order), n_frames, normalize)


def finish_features(feats: np.ndarray, n_frames: Optional[int] = None, normalize: bool = False) -> torch.Tensor:
    """Stacked features -> tensor: length fit to ``n_frames``, then per-frame layer norm when ``normalize``."""
    if n_frames is not None:
        feats = fit_length(feats, n_frames)
    if normalize:
        feats = layer_norm(np.array(feats, dtype=np.float32))
    return torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))


def fbank_path(audio_path: str) -> str:
    """Where precomputed stacked features of ``audio_path`` live: ``<audio path without ext>.fbank.npy``
    (float32 ``(T, 104)``, not trimmed, not normalised; written by ``hf_to_manifest --precompute_features``)."""
    return os.path.splitext(audio_path)[0] + ".fbank.npy"


def layer_norm(feats: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """``F.layer_norm(x, x.shape[1:])`` in numpy: each frame to zero mean, unit variance (biased)."""
    centered = feats - feats.mean(axis=1, keepdims=True)
    var = np.mean(np.square(centered), axis=1, keepdims=True)
    centered /= np.sqrt(var + np.float32(eps))
    return centered
