"""A video's face landmarks as they arrive: frames without a detection filled by linear interpolation from
their neighbours (before the first detection: a copy of it; after the last: a copy of that), a centred moving
average over ``window`` frames (shrinking at the ends), and how many leading frames are final.

A frame's smoothed points are final once a detection at least half a window later exists (or the video has
ended), so the mouth-ROI step crops each frame a few frames after reading it instead of keeping the whole
video for a second pass. The values are bit for bit those of interpolating and smoothing the finished
sequence at once (``np.interp`` between the two detections around a gap; running sums in frame order, as
``np.cumsum`` adds).
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from avhubert_ami.errors import MediaError


class LandmarkTrack:
    """``add`` each frame's points (``(K, 2)`` or None), ``final()`` frames are ready, ``smoothed(i)``
    gives frame ``i``'s points; ``finish`` at the end of the video."""

    def __init__(self, window: int) -> None:
        self.window, self.half = window, window // 2
        self.found: List[bool] = []
        self._filled: List[np.ndarray] = []  # points of frames 0 .. last detection (all frames once finished)
        self._sums: List[np.ndarray] = []  # _sums[k] = sum of _filled[:k]
        self._last: Optional[int] = None  # index of the last detection
        self.length: Optional[int] = None  # number of frames, once finished

    def add(self, points: Optional[np.ndarray]) -> None:
        """The next frame's detection (None: no face found in it)."""
        i = len(self.found)
        self.found.append(points is not None)
        if points is None:
            return
        points = np.asarray(points, dtype=np.float64)
        gap: List[np.ndarray] = []
        if self._last is None:
            gap = [points] * i  # frames before the first detection copy it
        elif i > self._last + 1:
            a, before = self._last, self._filled[self._last]
            t = np.arange(a + 1, i)
            cols = [np.interp(t, [a, i], [b, p]) for b, p in zip(before.ravel(), points.ravel())]
            gap = list(np.stack(cols, axis=1).reshape(len(t), *points.shape))
        for p in gap + [points]:
            self._push(p)
        self._last = i

    def _push(self, points: np.ndarray) -> None:
        if not self._sums:
            self._sums.append(np.zeros_like(points, dtype=np.float64))
        self._filled.append(points)
        self._sums.append(self._sums[-1] + points)

    def finish(self, where: str) -> None:
        """The video has ended: frames after the last detection copy it. No detection at all -> MediaError."""
        if self._last is None:
            raise MediaError(
                f"{where}: no face found in any of its {len(self.found)} frames "
                "(is it a face video? for ready-made lip clips skip landmark detection)"
            )
        while len(self._filled) < len(self.found):
            self._push(self._filled[self._last])
        self.length = len(self.found)

    def final(self) -> int:
        """How many leading frames have final smoothed points."""
        if self.length is not None:
            return self.length
        return 0 if self._last is None else max(0, self._last - self.half + 1)

    def smoothed(self, i: int) -> np.ndarray:
        """Frame ``i``'s points averaged over the frames ``i - half .. i + half`` that exist (i < final())."""
        if self.window <= 1:
            return self._filled[i]
        n = self.length if self.length is not None else len(self._filled)
        lo, hi = max(i - self.half, 0), min(i + self.half + 1, n)
        return (self._sums[hi] - self._sums[lo]) / (hi - lo)
