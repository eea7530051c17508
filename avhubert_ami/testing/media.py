"""Generated media for tests and benchmarks: tones, harmonic waves, moving-blob lips, a moving face."""

from __future__ import annotations

from typing import Iterator

import numpy as np


def tone(seconds: float, sr: int = 16000, freq: float = 220.0, channels: int = 1) -> np.ndarray:
    """A quiet sine (N,) or (N, C) float32."""
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave] * channels, axis=1)


def make_frames(n_frames: int, seed: int, size: int = 96) -> np.ndarray:
    """Smooth moving gray blobs (compressible, not constant), ``uint8 (T, size, size)``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(30, 66, size=2)
    t = np.arange(n_frames, dtype=np.float32)[:, None, None]
    r = 12 + 6 * np.sin(t / 3.0 + rng.uniform(0, 6))
    blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2)[None] / (2 * r**2)))
    return (40 + 180 * blob).astype(np.uint8)


def make_wave(n_samples: int, seed: int) -> np.ndarray:
    """A quiet harmonic tone with noise, ``float32`` in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 16000.0
    f0 = rng.uniform(100, 220)
    wave = sum(0.1 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 5))
    return (wave + 0.01 * rng.standard_normal(n_samples)).astype(np.float32)


def write_empty_video(path: str) -> None:
    """A valid AVI file (FFV1 stream header) with no frames at all."""
    import av

    with av.open(path, "w", format="avi") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 16, 16, "gray"
        c.start_encoding()


# Mouth centre of skimage.data.astronaut() (512x512), from MediaPipe face mesh and checked by eye.
ASTRONAUT_MOUTH = np.array([223.5, 146.0])


def iter_astronaut_frames(n: int, size=(288, 352), blank=(), zoom: float = 1.0) -> Iterator[tuple]:
    """``(rgb (H,W,3) uint8, mouth centre (2,))`` per frame of :func:`astronaut_frames`, one at a time
    (a minutes-long benchmark clip does not fit in memory as RGB)."""
    # deferred: scikit-image is a dev dependency, and cv2 costs start-up time to callers that need no face
    import cv2
    from skimage import data

    img = data.astronaut()
    h, w = size
    blank = set(blank)
    for i in range(n):
        s = zoom * (0.9 + 0.2 * i / max(n - 1, 1))
        tx, ty = 15 * np.sin(i / 8), 8 * np.cos(i / 10)
        m = np.array([[s, 0, w / 2 - s * 224 + tx], [0, s, h / 2 - s * 140 + ty]])
        frame = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        if i in blank:
            frame[:] = 128
        yield frame, m[:, :2] @ ASTRONAUT_MOUTH + m[:, 2]


def astronaut_frames(n: int, size=(288, 352), blank=(), zoom: float = 1.0) -> tuple:
    """A face clip: the astronaut photo moving and zooming in a ``size`` (H, W) frame, like an AMI
    close-up (352x288, small face). Returns ``(rgb (n,H,W,3) uint8, mouth centre per frame (n,2))``;
    frames listed in ``blank`` are uniform gray (no face); ``zoom`` scales the face (0.4: ~50 px wide)."""
    frames, mouths = zip(*iter_astronaut_frames(n, size, blank, zoom))
    return np.stack(frames), np.stack(mouths)
