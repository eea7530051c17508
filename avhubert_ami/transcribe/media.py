"""Streaming access to a recording: probe it, decode its audio to a 16 kHz mono wav on disk block by block,
read time ranges of audio and video frames. Nothing here holds a whole recording in memory."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np

from avhubert_ami.data.constants import FPS, SAMPLE_RATE
from avhubert_ami.data.video import FrameConverter
from avhubert_ami.errors import MediaError

logger = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".mpg", ".mpeg")
AUDIO_EXTS = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac")


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds."""

    path: str
    has_audio: bool
    has_video: bool
    duration: float  # seconds (longest stream)
    fps: float = 0.0  # video frame rate, 0 without video
    audio_s: float = 0.0  # what the header declares for the audio stream (else the container), 0 without audio
    video_s: float = 0.0  # likewise for the video stream
    sample_rate: int = 0  # audio sample rate, 0 without audio
    channels: int = 0


def _ffmpeg_error(path: str, err: Exception) -> MediaError:
    return MediaError(f"{path}: corrupt, truncated or unsupported media file ({type(err).__name__}: {err})")


def probe(path: str) -> MediaInfo:
    """Streams and duration of ``path`` (header only, except when the container has no duration)."""
    import av

    if not os.path.isfile(path):
        raise MediaError(f"{path}: no such file")
    try:
        with av.open(path) as c:
            v = c.streams.video[0] if c.streams.video else None
            a = c.streams.audio[0] if c.streams.audio else None
            declared = {
                id(s): float(s.duration * s.time_base) for s in (v, a) if s is not None and s.duration and s.time_base
            }
            durations = list(declared.values())
            if c.duration:
                durations.append(c.duration / av.time_base)
            fps = 0.0
            if v is not None:
                rate = v.average_rate or v.guessed_rate or v.base_rate
                fps = float(rate) if rate else FPS
                if not durations and v.frames:
                    durations.append(v.frames / fps)
            if not durations:  # e.g. a raw stream without header duration: count by demuxing
                last = 0.0
                for packet in c.demux():
                    if packet.pts is not None and packet.time_base is not None:
                        last = max(last, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                durations.append(last)
            longest = max(durations)
            return MediaInfo(
                path=path,
                has_audio=a is not None,
                has_video=v is not None,
                duration=longest,
                fps=fps,
                audio_s=declared.get(id(a), longest) if a is not None else 0.0,
                video_s=declared.get(id(v), longest) if v is not None else 0.0,
                sample_rate=int(a.codec_context.sample_rate or a.rate or 0) if a is not None else 0,
                channels=int(a.codec_context.channels or 0) if a is not None else 0,
            )
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError) as err:
        raise _ffmpeg_error(path, err) from err


def decode_audio_to_wav(path: str, dst: str, notes: Optional[List[str]] = None) -> int:
    """Decode the first audio stream of ``path`` into ``dst`` as 16 kHz mono 16-bit PCM (the format of the
    training wavs), one decoded frame at a time; returns the number of samples written. Another rate or channel
    count is converted by ffmpeg's resampler, with a note appended to ``notes``."""
    import av
    import soundfile as sf

    written = 0
    try:
        with av.open(path) as c:
            if not c.streams.audio:
                raise MediaError(f"{path}: no audio stream")
            stream = c.streams.audio[0]
            rate, channels = int(stream.codec_context.sample_rate or 0), int(stream.codec_context.channels or 0)
            if (rate, channels) != (SAMPLE_RATE, 1) and notes is not None:
                notes.append(
                    f"{os.path.basename(path)}: audio is {rate} Hz with {channels} channel(s); "
                    f"resampled to {SAMPLE_RATE} Hz mono"
                )
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            with sf.SoundFile(dst, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16", format="WAV") as out:

                def put(frames) -> None:
                    nonlocal written
                    for f in frames:
                        block = f.to_ndarray().reshape(-1)  # packed s16 mono: (1, n)
                        out.write(block)
                        written += len(block)

                for frame in c.decode(stream):
                    put(resampler.resample(frame))
                put(resampler.resample(None))
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError) as err:
        raise _ffmpeg_error(path, err) from err
    return written


class Wav16k:
    """A 16 kHz mono wav read by time range (soundfile seeks; the file stays on disk)."""

    def __init__(self, path: str) -> None:
        import soundfile as sf

        self.path = path
        self.n_samples = int(sf.info(path).frames)

    @property
    def duration(self) -> float:
        return self.n_samples / SAMPLE_RATE

    def read(self, start: float, end: float) -> np.ndarray:
        """Float32 samples in [-1, 1] of ``[start, end)`` seconds (zero-padded past the end of the file)."""
        import soundfile as sf

        a, b = int(round(start * SAMPLE_RATE)), int(round(end * SAMPLE_RATE))
        with sf.SoundFile(self.path) as f:
            f.seek(min(max(a, 0), self.n_samples))
            wave = f.read(max(0, min(b, self.n_samples) - max(a, 0)), dtype="float32")
        return np.pad(wave, (0, max(0, (b - a) - len(wave))))

    def blocks(self, block_samples: int = SAMPLE_RATE * 30) -> Iterator[np.ndarray]:
        """The whole file as consecutive int16 blocks (for voice-activity detection)."""
        import soundfile as sf

        with sf.SoundFile(self.path) as f:
            for block in f.blocks(blocksize=block_samples, dtype="int16"):
                yield block


@dataclass
class StreamReach:
    """How far a video stream was found to go: :func:`iter_frames` records the end of the last frame it decoded and
    whether the stream ended before the range it was asked for (the real end of a truncated or short video)."""

    last_end: float = 0.0  # seconds: end of the latest frame decoded
    ended: bool = False  # the stream ran out inside a requested range: ``last_end`` is where it really ends


def decoded_frames(path: str, start: float = 0.0, reach: Optional[StreamReach] = None) -> Iterator[tuple]:
    """``(time s, source fps, PyAV frame)`` of the first video stream, in display order, from one backward seek
    before ``start``; ``reach`` learns where the stream ends (``ended`` once the stream runs out while iterated).
    Errors name the file (:class:`MediaError`)."""
    import av

    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = c.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else FPS
            if start > 0 and stream.time_base is not None:
                c.seek(int(max(0.0, start - 1.0) / stream.time_base), stream=stream, backward=True)
            for i, frame in enumerate(c.decode(stream)):
                t = frame.time if frame.time is not None else i / fps
                if reach is not None:
                    reach.last_end = max(reach.last_end, t + 1.0 / fps)
                yield t, fps, frame
            if reach is not None:
                reach.ended = True
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        raise _ffmpeg_error(path, err) from err


def iter_frames(
    path: str, start: float, end: float, fmt: str = "rgb24", reach: Optional[StreamReach] = None
) -> Iterator[np.ndarray]:
    """Frames of the first video stream shown in ``[start, end)`` seconds, as ``fmt`` arrays (``rgb24``:
    (H, W, 3), ``gray``: (H, W), ffmpeg's conversions as in the training data); one seek, one decode pass.
    ``reach`` (optional) learns where the stream ends when it ends inside the range."""
    converter = FrameConverter()
    with contextlib.closing(decoded_frames(path, start, reach)) as frames:
        for t, fps, frame in frames:
            if t < start - 0.5 / fps:
                continue
            if t >= end - 0.5 / fps:
                return
            yield converter.array(frame, fmt)
