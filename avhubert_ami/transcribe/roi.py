"""Mouth-ROI frames of a time range of a video, at 25 fps and 96x96: from a face video through the
preprocessing's landmark + alignment code (the geometry of the training data), or from a ready-made lip clip."""

from __future__ import annotations

from typing import Optional

import numpy as np

from avhubert_ami.errors import MediaError, UsageError
from avhubert_ami.transcribe.media import StreamReach, iter_frames

#: what a face video needs, and where it comes from
FACE_EXTRA = "pip install 'avhubert-ami[roi]' (MediaPipe and OpenCV)"


def require_face_detector(backend: str = "auto") -> None:
    """Raise :class:`UsageError` naming the extra to install when no face landmark detector for ``backend`` can be
    made here (face videos are cropped to the mouth on the fly; ready-made mouth clips need none)."""
    from avhubert_ami.prep.landmarks import shared_detector

    try:
        import cv2  # noqa: F401  the crops themselves

        shared_detector(backend)
    except ImportError as err:
        raise UsageError(
            f"face videos need a face landmark detector ({backend}: {err}): {FACE_EXTRA}; or pass --lip_video "
            "(lip_video=True) for ready-made mouth clips, or --modalities audio"
        ) from None


def fit_frames(frames: np.ndarray, n: int) -> np.ndarray:
    """Trim, or pad by repeating the last frame, to exactly ``n`` frames (the segment's 25 fps length)."""
    if len(frames) >= n:
        return frames[:n]
    return np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), axis=0)])


def face_mouth_crops(
    path: str,
    start: float,
    end: float,
    fps: float,
    backend: str = "auto",
    min_face_fraction: float = 0.5,
    reach: Optional[StreamReach] = None,
) -> Optional[np.ndarray]:
    """Gray ``uint8 (T, 96, 96)`` mouth crops of ``[start, end)`` s of a face video at ``fps``, or None when a face
    is found in fewer than ``min_face_fraction`` of the frames (the segment is then decoded without video).

    Frames are streamed through :func:`avhubert_ami.prep.mouth_roi.crop_mouth_stream` (each cropped once its
    smoothed landmarks are final), so little more than the 96x96 output of one segment is held. ``reach``: see
    :func:`~avhubert_ami.transcribe.media.iter_frames`.
    """
    from avhubert_ami.prep.mouth_roi import crop_mouth_stream

    n_src = max(1, int(round((end - start) * fps)))
    where = f"{path} [{start:.2f}-{end:.2f}s]"
    try:
        result = crop_mouth_stream(
            lambda: iter_frames(path, start, end, "rgb24", reach), n_src, fps, where=where, backend=backend
        )
    except MediaError as err:
        if "no face found" in str(err):  # LandmarkTrack.finish's message when no frame has a face
            return None
        raise
    if result.detected.mean() < min_face_fraction:
        return None
    return result.frames


def lip_clip_frames(
    path: str, start: float, end: float, fps: float, reach: Optional[StreamReach] = None
) -> Optional[np.ndarray]:
    """Gray ``uint8 (T, 96, 96)`` frames of ``[start, end)`` s of a ready-made mouth clip, resampled to 25 fps and
    resized to 96x96 like the dataset does for off-size clips; None when the clip has no frame there (a video
    shorter than its separate audio). ``reach``: see :func:`~avhubert_ami.transcribe.media.iter_frames`."""
    from avhubert_ami.data.video import conform_video

    frames = list(iter_frames(path, start, end, "gray", reach))
    if not frames:
        return None
    return conform_video(np.stack(frames), fps, path, resample_fps=True)
