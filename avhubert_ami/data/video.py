"""Mouth-ROI video IO (PyAV) and the vectorised frame transforms of AV-HuBERT.

* :func:`read_video` decodes a whole file in one pass to ``uint8 (T, H, W)`` grayscale
  (RGB/YUV -> gray is done by ffmpeg's swscale, like ``frame.to_ndarray(format="gray")``).
* :func:`write_video` writes frames atomically: ``.mkv``/``.avi`` with lossless FFV1 (exact
  round trip for gray frames) or ``.mp4`` with libx264 ``yuv420p``.
* :func:`conform_video` enforces 25 fps / 96x96 input; :func:`crop_flip_normalize` applies
  upstream's ``/255 -> crop (random or center) -> flip -> (x - mean) / std`` on the whole
  ``T x H x W`` array at once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Tuple

import numpy as np

from avhubert_ami.data.constants import CROP_SIZE, FPS, IMAGE_MEAN, IMAGE_STD, ROI_SIZE
from avhubert_ami.errors import MediaError

logger = logging.getLogger(__name__)


# extension -> (container format, codecs allowed in it)
_CONTAINERS = {
    ".mkv": ("matroska", ("ffv1", "libx264")),
    ".avi": ("avi", ("ffv1",)),
    ".mp4": ("mp4", ("libx264",)),
}


@dataclass(frozen=True)
class VideoInfo:
    """Stream properties of a video file."""

    n_frames: int
    fps: float
    height: int
    width: int


def _av():
    import av  # local import: keeps `import avhubert_ami` cheap and PyAV errors local

    return av


class FrameConverter:
    """Converts decoded PyAV frames through one swscale context of its own, without slice threads.

    Use it instead of ``frame.to_ndarray(format=...)`` / ``frame.reformat(...)``. Those keep a
    per-thread context (PyAV >= 18.1.1) whose swscale runs slice threads; a process that forks
    (DataLoader workers, preparation pools) after another thread converted a frame inherits the
    threads' condition variables, and the child's cleanup of that thread's context waits on them
    forever (a fresh-clone CI hung there). ``threads=1`` starts no slice threads; one context per
    stream also saves setting one up per frame (~1.5x the conversion's own cost on a CIF close-up).
    """

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._reformatter = VideoReformatter()

    def array(self, frame, fmt: str) -> np.ndarray:
        """``frame`` as a ``fmt`` array: (H, W, 3) for ``rgb24``/``bgr24``, (H, W) for ``gray``."""
        return self._reformatter.reformat(frame, format=fmt, threads=1).to_ndarray()


def _open_error(path: str, err: Exception) -> MediaError:
    return MediaError(f"{path}: cannot read video ({type(err).__name__}: {err}); re-encode it or remove the row")


def _check_exists(path: str) -> None:
    if not os.path.isfile(path):
        raise MediaError(f"{path}: video file not found (check the manifest root line and the video column)")


@contextlib.contextmanager
def _video_stream(path: str):
    """Open ``path`` and yield ``(container, first video stream)``; ffmpeg errors become MediaError."""
    _check_exists(path)
    av = _av()
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            yield container, container.streams.video[0]
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        raise _open_error(path, err) from err


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


# 8-bit formats whose gray conversion depends on the luma plane only
_LUMA_FORMATS = frozenset(
    [
        "gray",
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "nv12",
        "nv21",
    ]
)


@functools.lru_cache(maxsize=32)
def _gray_lut(fmt: str, color_range: int) -> Optional[np.ndarray]:
    """ffmpeg's luma -> gray mapping for ``fmt`` as a 256-entry table (``None`` when identity).

    Measured by letting swscale convert a frame holding every luma value once, so applying
    the table to the Y plane gives exactly ``frame.to_ndarray(format="gray")``.
    """
    av = _av()
    frame = av.VideoFrame(16, 16, fmt)
    for i, plane in enumerate(frame.planes):
        buf = np.asarray(memoryview(plane).cast("B")).reshape(plane.height, plane.line_size)
        buf[:] = 128
        if i == 0:
            buf[:, :16] = np.arange(256, dtype=np.uint8).reshape(16, 16)
    frame.color_range = color_range
    lut = FrameConverter().array(frame, "gray").reshape(256)
    return None if np.array_equal(lut, np.arange(256)) else lut


def _frame_luma(frame, converter: FrameConverter) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """``(plane, table)`` with ``np.take(table, plane)`` (or ``plane`` when ``table`` is None) equal
    to ``frame.to_ndarray(format="gray")``: the Y plane for YUV/gray formats, swscale otherwise."""
    name = frame.format.name
    if name in _LUMA_FORMATS:
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : frame.width]
        return luma, _gray_lut(name, int(frame.color_range))
    return converter.array(frame, "gray"), None


def probe_video(path: str) -> VideoInfo:
    """Frame count, fps and frame size without decoding (counts packets when the header has no count)."""
    with _video_stream(path) as (container, stream):
        height, width = stream.codec_context.height, stream.codec_context.width
        fps = _stream_fps(stream)  # while the container is open: PyAV >= 18.1.1 refuses a closed stream's fields
        n = int(stream.frames or 0)
        if n <= 0:
            n = sum(1 for packet in container.demux(stream) if packet.size)
    return VideoInfo(n_frames=n, fps=fps, height=height, width=width)


def read_video_with_info(path: str) -> Tuple[np.ndarray, VideoInfo]:
    """Decode every frame of ``path`` to gray ``uint8 (T, H, W)``; also return the stream info."""
    with _video_stream(path) as (container, stream):
        fps = _stream_fps(stream)
        converter = FrameConverter()  # for non-YUV sources
        decoded = [_frame_luma(frame, converter) for frame in container.decode(stream)]
    if not decoded:
        raise MediaError(f"{path}: video has 0 frames (re-extract the mouth ROI or remove the row)")
    lut = decoded[0][1]
    if all(table is lut for _, table in decoded):  # the usual case: one table for the clip
        array = np.stack([luma for luma, _ in decoded])
        if lut is not None:
            array = np.take(lut, array)
    else:
        array = np.stack([luma if table is None else np.take(table, luma) for luma, table in decoded])
    t, h, w = array.shape
    return array, VideoInfo(n_frames=t, fps=fps, height=h, width=w)


def read_video(path: str) -> np.ndarray:
    """Decode ``path`` to a grayscale ``uint8`` array ``(T, H, W)``; :class:`MediaError` when unreadable."""
    return read_video_with_info(path)[0]


def _container_for(path: str, codec: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in _CONTAINERS:
        raise ValueError(f"{path}: unsupported video extension {ext!r} (use one of {sorted(_CONTAINERS)})")
    fmt, codecs = _CONTAINERS[ext]
    if codec not in codecs:
        raise ValueError(f"{path}: codec {codec!r} cannot go in a {ext} file (allowed: {', '.join(codecs)})")
    return fmt


def write_video(
    path: str,
    frames: np.ndarray,
    fps: float = FPS,
    codec: str = "ffv1",
    *,
    crf: int = 18,
) -> None:
    """Write ``uint8`` frames ``(T, H, W)`` (gray) or ``(T, H, W, 3)`` (RGB) atomically.

    ``ffv1`` (``.mkv``/``.avi``) is lossless: gray frames read back exactly. ``libx264``
    (``.mp4``/``.mkv``) writes ``yuv420p`` with quality ``crf`` and needs even width and height.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8, got {frames.dtype}")
    if frames.ndim == 4 and frames.shape[-1] == 3:
        in_fmt = "rgb24"
    elif frames.ndim == 3:
        in_fmt = "gray"
    else:
        raise ValueError(f"{path}: frames must be (T,H,W) or (T,H,W,3), got shape {frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError(f"{path}: refusing to write a video with 0 frames")
    if not fps > 0:
        raise ValueError(f"{path}: fps must be > 0, got {fps}")
    height, width = frames.shape[1:3]
    fmt = _container_for(path, codec)
    if codec == "libx264":
        if height % 2 or width % 2:
            raise ValueError(
                f"{path}: libx264 yuv420p needs even width and height, got {width}x{height} "
                "(crop or pad the frames, or use codec='ffv1' with a .mkv file)"
            )
        pix_fmt = "yuv420p"
    else:
        pix_fmt = "gray" if in_fmt == "gray" else "bgr0"

    av = _av()
    from avhubert_ami.files import temp_file_beside

    fd, tmp = temp_file_beside(path)  # the mode a plain write would give (not mkstemp's 0600)
    os.close(fd)
    try:
        rate = Fraction(fps).limit_denominator(1001)
        with av.open(tmp, mode="w", format=fmt) as container:
            options = {"crf": str(crf)} if codec == "libx264" else {}
            stream = container.add_stream(codec, rate=rate, options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.codec_context.time_base = 1 / rate
            if codec == "ffv1":  # slice threads cost more than they share on 96x96 frames (~10% of the encode)
                stream.codec_context.thread_count = 1
            for i in range(frames.shape[0]):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format=in_fmt)
                frame.pts = i
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_warned_resize = False


def resize_frames(frames: np.ndarray, size: int = ROI_SIZE) -> np.ndarray:
    """Bilinear (antialiased) resize of ``uint8 (T, H, W)`` to ``(T, size, size)`` in one call."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).unsqueeze(1).float()
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y.squeeze(1).round_().clamp_(0, 255).to(torch.uint8).numpy()


def resample_frame_indices(n_frames: int, fps: float, target_fps: float = FPS) -> np.ndarray:
    """Indices that resample ``n_frames`` at ``fps`` to ``target_fps`` by nearest-earlier selection."""
    n_out = max(1, int(round(n_frames * target_fps / fps)))
    return np.minimum((np.arange(n_out) * (fps / target_fps)).astype(np.int64), n_frames - 1)


def conform_video(
    frames: np.ndarray,
    fps: float,
    path: str,
    *,
    target_fps: float = FPS,
    size: int = ROI_SIZE,
    resample_fps: bool = False,
    fps_tolerance: float = 0.01,
) -> np.ndarray:
    """Check/adapt decoded frames to ``target_fps`` and ``size x size``.

    A wrong fps raises :class:`MediaError` unless ``resample_fps`` (frame-index selection).
    A wrong frame size is resized with a one-time warning.
    """
    global _warned_resize
    if abs(fps - target_fps) > fps_tolerance:
        if not resample_fps:
            raise MediaError(
                f"{path}: video is {fps:g} fps, expected {target_fps:g} (re-encode at {target_fps:g} fps, "
                "or enable the task's resample_video_fps option)"
            )
        frames = frames[resample_frame_indices(len(frames), fps, target_fps)]
    if frames.shape[1:] != (size, size):
        if not _warned_resize:
            logger.warning(
                "%s: frames are %dx%d, expected %dx%d mouth ROIs; resizing (warned once)",
                path,
                frames.shape[2],
                frames.shape[1],
                size,
                size,
            )
            _warned_resize = True
        frames = resize_frames(frames, size)
    return frames


def crop_flip_normalize(
    frames: np.ndarray,
    crop_size: int = CROP_SIZE,
    train: bool = False,
    rng: Optional[np.random.Generator] = None,
    mean: float = IMAGE_MEAN,
    std: float = IMAGE_STD,
    flip_prob: float = 0.5,
    downsample: int = 1,
) -> np.ndarray:
    """Upstream's image transform on ``uint8 (T, H, W)`` -> ``float32 (T, crop, crop)``.

    Train: random crop (one offset for the clip) and horizontal flip with ``flip_prob``;
    eval: center crop (offset ``(H - crop) // 2``). Pixels map to ``(x / 255 - mean) / std``.
    ``downsample > 1`` (our extension for CPU presets; upstream has none) averages
    ``downsample x downsample`` pixel blocks of the crop: ``(T, crop // d, crop // d)``.
    """
    t, h, w = frames.shape
    if h < crop_size or w < crop_size:
        raise ValueError(f"frames are {w}x{h}, smaller than the crop size {crop_size}")
    if train:
        rng = rng if rng is not None else np.random.default_rng()
        dh, dw = int(rng.integers(0, h - crop_size + 1)), int(rng.integers(0, w - crop_size + 1))
        flip = bool(rng.random() < flip_prob)
    else:
        dh, dw, flip = (h - crop_size) // 2, (w - crop_size) // 2, False
    view = frames[:, dh : dh + crop_size, dw : dw + crop_size]
    if flip:
        view = view[:, :, ::-1]
    if downsample > 1:
        if crop_size % downsample:
            raise ValueError(f"crop size {crop_size} is not a multiple of downsample={downsample}")
        n = crop_size // downsample
        blocks = view.reshape(t, n, downsample, n, downsample).astype(np.float32)
        view = blocks.mean(axis=(2, 4))
    out = np.empty(view.shape, dtype=np.float32)
    np.multiply(view, np.float32(1.0 / (255.0 * std)), out=out, casting="unsafe")
    out -= np.float32(mean / std)
    return out
