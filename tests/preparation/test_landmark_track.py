"""LandmarkTrack: landmarks filled and smoothed as they arrive equal those of the finished sequence, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from avhubert_ami.errors import MediaError
from avhubert_ami.prep.landmark_track import LandmarkTrack


def _at_once(points, window):
    """The whole sequence at once: np.interp over all detections, then a centred moving average by cumsum."""
    idx = np.flatnonzero([p is not None for p in points])
    flat = np.stack([points[i] for i in idx]).reshape(len(idx), -1)
    t = np.arange(len(points))
    filled = np.stack([np.interp(t, idx, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    filled = filled.reshape(len(points), *points[idx[0]].shape)
    if window <= 1:
        return filled
    half = window // 2
    csum = np.concatenate([np.zeros((1,) + filled.shape[1:]), np.cumsum(filled, axis=0)])
    lo = np.clip(t - half, 0, len(t))
    hi = np.clip(t + half + 1, 0, len(t))
    return (csum[hi] - csum[lo]) / (hi - lo)[:, None, None]


@pytest.mark.parametrize("window", [1, 5, 12])
@pytest.mark.parametrize("missing", [(), (0, 1, 2), (7, 8, 9, 10, 11, 12, 13), (38, 39), (3, 20, 21, 30)])
def test_same_points_as_the_finished_sequence(window, missing):
    rng = np.random.default_rng(len(missing) + window)
    points = [None if i in missing else rng.normal(100.0, 20.0, (17, 2)) for i in range(40)]
    track = LandmarkTrack(window)
    got = {}
    for i, p in enumerate(points):
        track.add(p)
        ready = track.final()
        assert ready <= i + 1
        # a frame is final only when the detections after it settle its window
        later = [j for j in range(i + 1) if points[j] is not None]
        assert ready == (max(0, later[-1] - window // 2 + 1) if later else 0)
        for k in range(len(got), ready):
            got[k] = track.smoothed(k)
    track.finish("clip")
    assert track.final() == len(points)
    for k in range(len(got), len(points)):
        got[k] = track.smoothed(k)
    np.testing.assert_array_equal(np.stack([got[k] for k in range(len(points))]), _at_once(points, window))
    assert track.found == [p is not None for p in points]


def test_no_face_at_all_fails_clearly():
    track = LandmarkTrack(12)
    for _ in range(3):
        track.add(None)
    assert track.final() == 0
    with pytest.raises(MediaError, match="no face found in any of its 3 frames"):
        track.finish("clip.mp4")
