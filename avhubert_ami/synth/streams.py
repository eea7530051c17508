"""Streaming, atomic media writers for long synthetic recordings: a meeting's wavs and close-ups are written
chunk by chunk (a 30-minute close-up never sits in memory) into a temporary file renamed over the target only
when the whole file is written, so an interrupted run leaves no truncated recording behind."""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from typing import Iterator

import numpy as np

from avhubert_ami.files import temp_file_beside


@contextlib.contextmanager
def _renamed_on_success(path: str) -> Iterator[str]:
    fd, tmp = temp_file_beside(path)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class WavWriter:
    """16-bit PCM mono WAV written block by block (float blocks, clipped to [-1, 1])."""

    def __init__(self, f) -> None:
        self._f = f

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (float samples)."""
        self._f.write(np.clip(block, -1.0, 1.0).astype(np.float32))


@contextlib.contextmanager
def wav_writer(path: str, sample_rate: int = 16000) -> Iterator[WavWriter]:
    """A :class:`WavWriter` onto ``path`` (renamed into place when the block exits without an error)."""
    import soundfile as sf

    with _renamed_on_success(path) as tmp:
        with sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=1, subtype="PCM_16", format="WAV") as f:
            yield WavWriter(f)


class VideoWriter:
    """Frames appended one at a time to a PyAV stream (pts = frame index)."""

    def __init__(self, av, container, stream, in_format: str) -> None:
        self._av, self._c, self._s, self._fmt = av, container, stream, in_format
        self.n_frames = 0

    def write(self, frames: np.ndarray) -> None:
        """Append ``frames``: ``(T, H, W)`` gray or ``(T, H, W, 3)`` RGB uint8, as the writer was opened."""
        for img in frames:
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format=self._fmt)
            frame.pts = self.n_frames
            self._c.mux(self._s.encode(frame))
            self.n_frames += 1


@contextlib.contextmanager
def video_writer(
    path: str, width: int, height: int, rgb: bool, codec: str = "ffv1", fps: float = 25.0, bit_rate: int = 0
) -> Iterator[VideoWriter]:
    """A :class:`VideoWriter` onto ``path`` (container from the extension; renamed into place on success).

    ``ffv1`` is lossless (gray stays gray); ``mpeg4`` (AMI's close-ups are MPEG-4 part 2 in AVI) writes
    ``yuv420p`` at ``bit_rate``. One encoder thread: the bitstream of a threaded encoder depends on the
    machine's core count, and the same seed must give the same bytes everywhere."""
    import av

    with _renamed_on_success(path) as tmp:
        fmt = {".avi": "avi", ".mkv": "matroska", ".mp4": "mp4"}[os.path.splitext(path)[1]]
        with av.open(tmp, mode="w", format=fmt) as container:
            rate = Fraction(fps).limit_denominator(1001)
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p" if codec != "ffv1" else ("bgr0" if rgb else "gray")
            stream.codec_context.time_base = 1 / rate
            stream.codec_context.thread_count = 1
            if bit_rate:
                stream.codec_context.bit_rate = bit_rate
            writer = VideoWriter(av, container, stream, "rgb24" if rgb else "gray")
            yield writer
            container.mux(stream.encode(None))
