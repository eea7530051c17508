"""Face landmarks -> 96x96 gray mouth crops at 25 fps (the AV-HuBERT / LRS3 mouth ROI).

    avhubert-mouth-roi --input VIDEO|DIR --output ROI.mkv|DIR

(:func:`extract_mouth_roi`; :func:`crop_mouth_stream` crops frames streamed from a time range, for the transcriber.)

The video is resampled to 25 fps (one output frame per resampled input frame). Per frame a face
landmark backend (``avhubert_ami.prep.landmarks``: MediaPipe face mesh, or upstream's dlib 68-point recipe,
or OpenCV's Haar cascade as a coarse fallback; every model ships inside its wheel) gives eye
corners, nose and lip points. Frames without a detection are filled by linear interpolation from
their neighbours (a video with no face at all fails); landmarks are smoothed over a sliding window;
each frame is similarity-aligned to upstream's 256x256 mean face (eyes + nose) and a 96x96 patch is
cut around the aligned lip centre, as upstream ``align_mouth.py`` does. Differences, on purpose: the
smoothing window is centred (upstream's looks ahead only), the lip centre comes from the smoothed
points too (less jitter), borders are replicated instead of shifting the crop, output is gray.
The real-time factor is printed.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from avhubert_ami.data.video import resample_frame_indices
from avhubert_ami.errors import MediaError, PreparationError
from avhubert_ami.prep import media
from avhubert_ami.prep.constants import FPS, ROI_SIZE
from avhubert_ami.prep.landmark_track import LandmarkTrack
from avhubert_ami.prep.landmarks import shared_detector
from avhubert_ami.prep.runtime import shards
from avhubert_ami.prep.runtime.engine import LOCAL, Engine
from avhubert_ami.prep.runtime.filesystem import sweep_stale_temporaries
from avhubert_ami.prep.runtime.locking import output_lock
from avhubert_ami.prep.runtime.summary import Summary
from avhubert_ami.prep.runtime.workers import run_jobs

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg")
N_STABLE = 5  # stable points lead every backend's landmark array (avhubert_ami.prep.landmarks)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation: Umeyama's) mapping ``src``
    points onto ``dst``: a 2x3 matrix. In the plane it has a closed form, so no SVD per frame (~40 us): with
    the centred points as complex numbers, the scaled rotation is ``sum(conj(s) * d) / sum(|s|^2)``."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    norm = (s**2).sum()
    cos = (s * d).sum() / norm  # scale * cos(angle)
    sin = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / norm  # scale * sin(angle)
    m = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


@dataclass
class RoiResult:
    """Mouth crops and how they were made (for checks and debugging)."""

    frames: np.ndarray  # (T, size, size) uint8 gray, 25 fps
    transforms: np.ndarray  # (T, 2, 3): source pixel -> crop pixel
    detected: np.ndarray  # (T,) bool: landmarks found (others interpolated)
    backend: str


def _at_25fps(frames: Iterable[np.ndarray], n_src: int, fps: float) -> Iterator[np.ndarray]:
    """Stream ``frames`` (``n_src`` of them at ``fps``) resampled to 25 fps by frame selection."""
    if abs(fps - FPS) < 1e-3:
        repeats = np.ones(n_src, dtype=np.int64)
    else:
        repeats = np.bincount(resample_frame_indices(n_src, fps, FPS), minlength=n_src)
    for i, frame in enumerate(frames):
        if i >= n_src:
            break
        for _ in range(repeats[i]):
            yield frame


# Gray frames waiting for their crop, at most this many bytes (~5 min of CIF video): normally half the smoothing
# window waits; past this (a long stretch without a face) the rest is cropped from a second decode instead.
GRAY_BUFFER_BYTES = 512 << 20


def crop_mouth_stream(
    frames: Callable[[], Iterable[np.ndarray]],
    n_src: int,
    fps: float,
    where: str = "video",
    window: int = 12,
    size: int = ROI_SIZE,
    backend: str = "auto",
    buffer_bytes: int = GRAY_BUFFER_BYTES,
) -> RoiResult:
    """Landmarks over ``frames()`` (RGB (H,W,3) frames at ``fps``) and the crops, in one pass; returns the 25 fps
    :class:`RoiResult`. A frame is cropped as soon as its smoothed landmarks are final (half a window later, or at
    the next detection after a gap; :class:`~avhubert_ami.prep.landmark_track.LandmarkTrack`), so only those
    frames wait, gray. When more than ``buffer_bytes`` would wait, they are dropped and ``frames()`` is called
    again after the landmark pass for the crops still missing (a long video never sits in memory)."""
    import cv2

    detector = shared_detector(backend)  # (kept open for the next video of this process)
    track = LandmarkTrack(window)
    crops: List[np.ndarray] = []
    transforms: List[np.ndarray] = []

    def crop(gray: np.ndarray) -> None:
        points = track.smoothed(len(crops))
        m = similarity(points[:N_STABLE], detector.template)
        mouth = points[N_STABLE:] @ m[:, :2].T + m[:, 2]
        m[:, 2] += size / 2.0 - mouth.mean(0)  # mouth centre -> crop centre
        transforms.append(m)
        crops.append(cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))

    waiting: Optional[Deque[np.ndarray]] = deque()
    for frame in _at_25fps(frames(), n_src, fps):
        track.add(detector.detect(frame))
        if waiting is None:
            continue
        waiting.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        if len(waiting) * waiting[0].nbytes > buffer_bytes:
            waiting = None
            continue
        while len(crops) < track.final():
            crop(waiting.popleft())
    track.finish(where)
    rest: Iterable[np.ndarray] = waiting if waiting is not None else ()
    if waiting is None:  # decode again, from the first frame not cropped yet
        again = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in _at_25fps(frames(), n_src, fps))
        rest = itertools.islice(again, len(crops), None)
    for gray in rest:
        if len(crops) >= track.final():
            break
        crop(gray)
    return RoiResult(np.stack(crops), np.stack(transforms), np.array(track.found), detector.backend)


def crop_mouth_result(
    rgb: np.ndarray,
    fps: float,
    where: str = "video",
    window: int = 12,
    size: int = ROI_SIZE,
    backend: str = "auto",
) -> RoiResult:
    """RGB frames (T,H,W,3) at ``fps`` -> :class:`RoiResult` at 25 fps."""
    return crop_mouth_stream(lambda: iter(rgb), len(rgb), fps, where, window, size, backend)


def crop_mouth(rgb: np.ndarray, fps: float, where: str = "video", **kwargs) -> np.ndarray:
    """RGB frames (T,H,W,3) at ``fps`` -> (T', 96, 96) uint8 gray mouth crops at 25 fps."""
    return crop_mouth_result(rgb, fps, where, **kwargs).frames


def process_file(src: str, dst: str, codec: str, window: int = 12, backend: str = "auto") -> Tuple[int, float]:
    """Crop one video file to ``dst`` (streamed: memory grows with the 96x96 output only);
    returns ``(frames written, real-time factor)``."""
    from avhubert_ami.data.video import probe_video, write_video

    t0 = time.perf_counter()
    info = probe_video(src)
    if info.n_frames == 0:
        raise MediaError(f"{src}: video has 0 frames")
    result = crop_mouth_stream(
        lambda: media.iter_rgb(src), info.n_frames, info.fps or FPS, where=src, window=window, backend=backend
    )
    write_video(dst, result.frames, fps=FPS, codec=codec)
    return len(result.frames), (time.perf_counter() - t0) / (info.n_frames / (info.fps or FPS))


def _codec_for(path: str) -> str:
    return "libx264" if path.lower().endswith(".mp4") else "ffv1"


def _job(payload: Tuple[str, str, int, str]) -> Tuple[int, float]:
    src, dst, window, backend = payload
    return process_file(src, dst, _codec_for(dst), window, backend)


def plan(inp: str, out: str, video_format: str) -> List[Tuple[str, str]]:
    """``[(source video, output path)]`` for a file or a folder (same relative names)."""
    if os.path.isfile(inp):
        if os.path.isdir(out) or out.endswith(os.sep):
            out = os.path.join(out, os.path.splitext(os.path.basename(inp))[0] + ".mkv")
        return [(inp, out)]
    if not os.path.isdir(inp):
        raise PreparationError(f"--input {inp}: no such file or folder")
    pairs = []
    for d, _, files in sorted(os.walk(inp)):
        for f in sorted(files):
            if f.lower().endswith(VIDEO_EXTS):
                rel = os.path.relpath(os.path.join(d, f), inp)
                stem, ext = os.path.splitext(rel)
                ext = (
                    ext
                    if video_format == "keep" and ext.lower() in (".mkv", ".avi", ".mp4")
                    else ("." + (video_format if video_format != "keep" else "mkv"))
                )
                pairs.append((os.path.join(d, f), os.path.join(out, stem + ext)))
    if not pairs:
        raise PreparationError(f"--input {inp}: no videos ({', '.join(VIDEO_EXTS)}) under it")
    return pairs


def extract_mouth_roi(
    input: str,
    output: str,
    *,
    video_format: str = "keep",
    window: int = 12,
    backend: str = "auto",
    num_workers: int = 1,
    overwrite: bool = False,
    wait: bool = False,
    shard: Optional[shards.Shard] = None,
    engine: Engine = LOCAL,
) -> Summary:
    """Crop the mouth ROI of a face video (``input`` a file, ``output`` a file or folder) or of every video under a
    folder (``output`` a folder, same relative names; ``video_format``: ``keep``, ``mkv`` or ``mp4``).

    ``window``: landmark smoothing window in frames; ``backend``: the landmark detector
    (:data:`~avhubert_ami.prep.landmarks.BACKENDS`); existing outputs are kept unless ``overwrite``; ``shard``
    (folder mode): a contiguous range of the sorted video list; ``engine``: where the per-video jobs run
    (:mod:`avhubert_ami.prep.runtime.engine`). Holds the output folder's lock (a file's own lock
    in file mode; ``wait``: queue behind another run). Raises :class:`PreparationError` for a missing input or
    an output another run writes; a video that fails is counted in the summary's ``failed``.
    """
    pairs = plan(input, output, video_format)
    if os.path.isdir(input):  # one run per output folder; one per output file in file mode
        if shard is not None:  # a contiguous range of the sorted video list
            pairs = [p for i, p in enumerate(pairs) if shard.owns_range(i, len(pairs))]
        lock = shards.claim_output(output, shard, wait, track=False)
    elif shard is not None:
        raise PreparationError("--num_shards/--shard_index split a folder of videos (--input DIR)")
    else:
        dst = pairs[0][1]
        lock = output_lock(os.path.dirname(os.path.abspath(dst)), wait, name=f".{os.path.basename(dst)}.lock")
    with lock:
        return _extract_locked(input, output, pairs, window, backend, num_workers, overwrite, shard, engine)


def _extract_locked(
    input: str,
    output: str,
    pairs: List[Tuple[str, str]],
    window: int,
    backend: str,
    num_workers: int,
    overwrite: bool,
    shard: Optional[shards.Shard],
    engine: Engine,
) -> Summary:
    summary = Summary()
    if os.path.isdir(input):
        if shard is None:  # shards leave the sweep to an unsharded run
            sweep_stale_temporaries(output, summary)
    else:
        for _, dst in pairs:
            sweep_stale_temporaries(os.path.dirname(os.path.abspath(dst)), summary, only=os.path.basename(dst))
    todo = []
    for src, dst in pairs:
        if os.path.exists(dst) and not overwrite:
            summary.already_done += 1
        else:
            todo.append((dst, (src, dst, window, backend)))
    t0, n_frames, rtfs = time.perf_counter(), 0, []
    for dst, result, error in run_jobs(_job, todo, num_workers, "mouth ROI", len(todo), engine):
        if error is not None:
            summary.failed.append((dst, error))
        else:
            summary.written += 1
            n_frames += result[0]
            rtfs.append(result[1])
    if rtfs:
        wall = time.perf_counter() - t0
        summary.notes.append(
            f"real-time factor: {np.mean(rtfs):.3f} per video (processing s / video s); "
            f"{n_frames} frames in {wall:.1f} s wall = {wall / (n_frames / FPS):.3f} x real time overall"
        )
    return summary
