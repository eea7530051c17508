"""Audio IO: soundfile for wav/flac, PyAV for anything else; atomic 16-bit PCM wav writes."""

from __future__ import annotations

import io
import logging
import os
from math import gcd
from typing import Tuple

import numpy as np

from avhubert_ami.data.constants import SAMPLE_RATE
from avhubert_ami.errors import MediaError
from avhubert_ami.files import atomic_write

logger = logging.getLogger(__name__)

_SOUNDFILE_EXTS = {".wav", ".flac"}


def _decode_soundfile(path: str) -> Tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        wave, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as err:  # soundfile.LibsndfileError is a RuntimeError
        raise MediaError(f"{path}: cannot read audio ({err}); re-encode it as 16 kHz mono wav") from err
    return wave, int(rate)  # (N, C)


def _decode_pyav(path: str) -> Tuple[np.ndarray, int]:
    import av

    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or stream.rate or 0)
            resampler = av.AudioResampler(format="fltp")  # keep layout and rate, planar float
            chunks = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        raise MediaError(
            f"{path}: cannot read audio ({type(err).__name__}: {err}); re-encode it as 16 kHz mono wav"
        ) from err
    if not chunks:
        return np.zeros((0, 1), dtype=np.float32), rate
    return np.concatenate(chunks, axis=1).T.astype(np.float32, copy=False), rate  # (N, C)


def resample_wave(wave: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling of a 1-D float wave (scipy ``resample_poly``)."""
    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target_rate))
    return resample_poly(wave, target_rate // g, rate // g).astype(np.float32)


def read_audio(path: str, sample_rate: int = SAMPLE_RATE, resample: bool = False, mono: bool = False) -> np.ndarray:
    """Read ``path`` as ``float32`` samples in [-1, 1], 1-D.

    A rate other than ``sample_rate`` raises :class:`MediaError` unless ``resample``; more than
    one channel raises unless ``mono`` (channels are then averaged). Empty audio always raises.
    """
    if not os.path.isfile(path):
        raise MediaError(f"{path}: audio file not found (check the manifest root line and the audio column)")
    ext = os.path.splitext(path)[1].lower()
    wave, rate = _decode_soundfile(path) if ext in _SOUNDFILE_EXTS else _decode_pyav(path)
    if wave.shape[0] == 0:
        raise MediaError(f"{path}: audio has 0 samples (re-extract it or remove the row)")
    if wave.shape[1] > 1:
        if not mono:
            raise MediaError(
                f"{path}: audio has {wave.shape[1]} channels, expected mono "
                "(downmix it, e.g. `ffmpeg -i IN -ac 1 OUT.wav`, or allow mono conversion)"
            )
        wave = wave.mean(axis=1, dtype=np.float32)
    else:
        wave = wave[:, 0]
    if rate != sample_rate:
        if not resample:
            raise MediaError(
                f"{path}: audio is {rate} Hz, expected {sample_rate} Hz "
                f"(convert it, e.g. `ffmpeg -i IN -ar {sample_rate} OUT.wav`, or allow resampling)"
            )
        wave = resample_wave(wave, rate, sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32)


def write_audio(path: str, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a float wave in [-1, 1] (1-D, or ``(N, C)``) as 16-bit PCM wav, atomically.

    Values outside [-1, 1] are clipped (with a warning); NaN/inf are rejected.
    """
    import soundfile as sf

    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim not in (1, 2):
        raise ValueError(f"{path}: wave must be 1-D or (N, C), got shape {wave.shape}")
    if not np.all(np.isfinite(wave)):
        raise ValueError(f"{path}: wave has NaN or inf samples")
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    if peak > 1.0:
        logger.warning("%s: clipping samples to [-1, 1] (peak %.3f)", path, peak)
        wave = np.clip(wave, -1.0, 1.0)
    # Encoded in memory, then written in one call: libsndfile writing into the file object reports a
    # full disk as a cascade of "Exception ignored from cffi callback" tracebacks before the OSError.
    buf = io.BytesIO()
    sf.write(buf, wave, int(sample_rate), format="WAV", subtype="PCM_16")
    with atomic_write(path, "wb") as f:
        f.write(buf.getbuffer())
