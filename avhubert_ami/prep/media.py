"""Media helpers of the preparation recipes: fps resampling, gray conversion, RGB (segment) reading with PyAV,
turning HF array columns into frame stacks, and writing one utterance (ROI video, wav, optional fbank) with
its audio matched to the video length.

File-level reading/writing of the project formats lives in ``avhubert_ami.data.video`` /
``avhubert_ami.data.audio``; this module only adds what preprocessing needs on top.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

__all__ = [
    "resample_fps",
    "resize_frames",
    "to_gray",
    "read_rgb",
    "iter_rgb",
    "frames_from_array",
    "write_fbank",
    "match_av_lengths",
    "write_utterance",
    "write_job_utterance",
]

import os

import av
import numpy as np

from avhubert_ami.data.video import FPS, FrameConverter, resample_frame_indices, resize_frames
from avhubert_ami.errors import MediaError
from avhubert_ami.files import atomic_write
from avhubert_ami.prep.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from avhubert_ami.prep.runtime.naming import media_paths


def resample_fps(frames: np.ndarray, src_fps: float, dst_fps: float = FPS) -> np.ndarray:
    """Drop/repeat frames so a clip at ``src_fps`` plays at ``dst_fps`` with the same duration."""
    if abs(src_fps - dst_fps) < 1e-3:
        return frames
    return frames[resample_frame_indices(len(frames), src_fps, dst_fps)]


def to_gray(frames: np.ndarray) -> np.ndarray:
    """(T,H,W) or (T,H,W,3|4) uint8 -> (T,H,W) uint8 gray (ITU-R 601 luma)."""
    if frames.ndim == 3:
        return frames.astype(np.uint8, copy=False)
    if frames.ndim == 4 and frames.shape[-1] == 1:
        return frames[..., 0].astype(np.uint8, copy=False)
    if frames.ndim == 4 and frames.shape[-1] in (3, 4):
        rgb = frames[..., :3].astype(np.float32)
        gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    raise ValueError(f"frames must be (T,H,W) or (T,H,W,C), got shape {frames.shape}")


def _rgb_stream(path: str, start: Optional[float], end: Optional[float]) -> Iterator[Any]:
    """The stream's frame rate (as ``probe_video`` reports it), then the (H,W,3) uint8 RGB frames shown
    in ``[start, end)`` s: one open of the file serves both."""
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError) as e:
        raise MediaError(f"{path}: cannot open video ({e})") from None
    with container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        yield float(rate) if rate else 0.0
        fps = float(stream.average_rate or stream.guessed_rate or 25.0)
        if start and stream.time_base is not None:
            container.seek(int(max(0.0, start - 1.0) / stream.time_base), stream=stream, backward=True)
        converter = FrameConverter()
        try:
            for i, frame in enumerate(container.decode(stream)):
                t = frame.time if frame.time is not None else i / fps
                if start is not None and t < start - 0.5 / fps:
                    continue
                if end is not None and t >= end - 0.5 / fps:
                    break
                yield converter.array(frame, "rgb24")
        except av.FFmpegError as e:
            raise MediaError(f"{path}: corrupt video ({e})") from None


def iter_rgb(path: str, start: Optional[float] = None, end: Optional[float] = None) -> Iterator[np.ndarray]:
    """Yield (H,W,3) uint8 RGB frames of ``path``, optionally only those shown in ``[start, end)`` s."""
    stream = _rgb_stream(path, start, end)
    next(stream)  # the frame rate
    yield from stream


def read_rgb(path: str, start: Optional[float] = None, end: Optional[float] = None) -> Tuple[np.ndarray, float]:
    """Decode ``path`` (optionally only ``[start, end)`` seconds) to (T,H,W,3) uint8 RGB and its fps."""
    stream = _rgb_stream(path, start, end)
    fps = next(stream)
    frames = list(stream)
    if not frames:
        what = f" between {start}s and {end}s" if start is not None or end is not None else ""
        raise MediaError(f"{path}: no video frames{what}")
    return np.stack(frames), fps


def frames_from_array(value: Any, where: str) -> np.ndarray:
    """An HF array column value (nested lists or ndarray, T x H x W [x C]) -> uint8 ndarray.

    Float frames in [0, 1] are scaled to [0, 255].
    """
    arr = np.asarray(value)
    if arr.dtype == object:  # ragged nesting from HF's python format
        try:
            arr = np.stack([np.asarray(f) for f in value])
        except ValueError as e:
            raise MediaError(f"{where}: video frames have inconsistent shapes ({e})") from None
    if arr.ndim not in (3, 4) or arr.shape[0] == 0 or (arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4)):
        raise MediaError(f"{where}: video array must be T x H x W [x C] with T > 0, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        arr = arr * 255.0 if arr.max(initial=0.0) <= 1.0 else arr
        arr = np.clip(np.rint(arr), 0, 255)
    return arr.astype(np.uint8)


def write_fbank(audio_path: str) -> str:
    """Precompute the 104-dim stacked log-fbank (25 Hz, un-normalised, untrimmed) of a written
    16 kHz wav (read back, so it equals the on-the-fly features) beside it, atomically;
    returns the ``.fbank.npy`` path."""
    from avhubert_ami.data.audio import read_audio
    from avhubert_ami.data.features import fbank_path, logfbank, stack_frames  # (torch: imported on use)

    feats = stack_frames(logfbank(read_audio(audio_path))).astype(np.float32)
    out = fbank_path(audio_path)
    with atomic_write(out, "wb") as f:
        np.save(f, feats)
    return out


def match_av_lengths(n_frames: int, n_samples: int, tolerance_s: float) -> Optional[int]:
    """Audio length (samples) that makes audio and video agree, or ``None`` when they differ by
    more than ``tolerance_s`` (then the row is dropped)."""
    target = n_frames * SAMPLES_PER_FRAME
    if abs(n_samples - target) > tolerance_s * SAMPLE_RATE:
        return None
    return target


def write_utterance(
    root: str,
    uid: str,
    text: str,
    video_rel: str,
    audio_rel: str,
    frames: Optional[np.ndarray],
    wave: Optional[np.ndarray],
    codec: str,
    tolerance_s: float,
    precompute_features: bool = False,
) -> dict:
    """Write one utterance's 25 fps ROI video and 16 kHz wav under ``root`` and return its journal
    entry (counts measured from the written files). When both modalities exist, the audio is
    trimmed/padded to the video length if they differ by at most ``tolerance_s``; otherwise the
    entry is a drop (``{"id", "drop", "detail"}``) and nothing is written."""
    import soundfile as sf

    from avhubert_ami.data.audio import write_audio
    from avhubert_ami.data.features import fbank_path
    from avhubert_ami.data.video import probe_video, write_video

    if frames is not None and wave is not None:
        n = match_av_lengths(len(frames), len(wave), tolerance_s)
        if n is None:
            diff = len(wave) / SAMPLE_RATE - len(frames) / FPS
            return {
                "id": uid,
                "drop": f"audio and video lengths differ by more than {tolerance_s} s",
                "detail": f"audio - video = {diff:+.3f} s",
            }
        wave = np.pad(wave[:n], (0, max(0, n - len(wave))))
    entry = {"id": uid, "text": text, "video": "", "audio": "", "n_video_frames": 0, "n_audio_samples": 0}
    if frames is not None:
        write_video(os.path.join(root, video_rel), frames, fps=FPS, codec=codec)
        entry["video"], entry["n_video_frames"] = video_rel, probe_video(os.path.join(root, video_rel)).n_frames
    if wave is not None:
        audio_path = os.path.join(root, audio_rel)
        write_audio(audio_path, wave, sample_rate=SAMPLE_RATE)
        entry["audio"], entry["n_audio_samples"] = audio_rel, sf.info(audio_path).frames
        if precompute_features:
            write_fbank(audio_path)
            entry["fbank"] = fbank_path(audio_rel)
    if entry["video"] and not entry["audio"]:
        entry["n_audio_samples"] = entry["n_video_frames"] * SAMPLES_PER_FRAME
    elif entry["audio"] and not entry["video"]:
        entry["n_video_frames"] = -(-entry["n_audio_samples"] // SAMPLES_PER_FRAME)
    return entry


def write_job_utterance(job: dict, frames: Optional[np.ndarray], wave: Optional[np.ndarray]) -> dict:
    """:func:`write_utterance` for a recipe worker's ``job`` (``split``, ``id``, ``text`` and the run's ``opts``:
    ``output_dir``, ``video_ext``, ``codec``, ``av_tolerance_s``, ``precompute_features``), at the split's media
    paths (:func:`~avhubert_ami.prep.runtime.naming.media_paths`)."""
    opts, uid = job["opts"], job["id"]
    video_rel, audio_rel = media_paths(job["split"], uid, opts["video_ext"])
    return write_utterance(
        opts["output_dir"],
        uid,
        job["text"],
        video_rel,
        audio_rel,
        frames,
        wave,
        opts["codec"],
        opts["av_tolerance_s"],
        opts["precompute_features"],
    )
