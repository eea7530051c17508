"""Mouth-ROI rendering for the synthetic corpus: viseme tracks -> 96x96 gray frames at 25 fps.

Each phone's viseme (:data:`avhubert_ami.synth.lexicon.VISEMES`) gives mouth-shape targets at the
10 ms hop rate; they are smoothed (lips move slower than sound, and lead it slightly) and sampled
at every video frame. Frames are drawn analytically on a pixel grid for the whole clip at once:
skin with a lighting gradient, lips as soft-edged super-ellipses (cupid's bow, thicker lower lip),
a dark mouth opening with upper/lower teeth bands and a tongue, and a jaw shadow. Speakers differ
in mouth size, lip thickness, grey levels and lighting; clips get head-pose jitter (offset, scale,
rotation, a slow drift), per-frame lighting flicker and sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from avhubert_ami.synth.audio import HOPS_PER_FRAME, smooth
from avhubert_ami.synth.lexicon import PHONES, VISEME_FIELDS, VISEMES

SIZE = 96
_FIELD = {name: i for i, name in enumerate(VISEME_FIELDS)}
_TARGETS = {k: np.array([getattr(v, f) for f in VISEME_FIELDS]) for k, v in VISEMES.items()}


@dataclass(frozen=True)
class Face:
    """Speaker appearance: mouth half-width (px), lip thicknesses (px), opening scale, grey levels
    of skin, lips, mouth interior and teeth, lighting gradient (grey levels across the ROI) and
    the mouth centre offset (px)."""

    half_width: float
    lip_upper: float
    lip_lower: float
    open_scale: float
    skin: float
    lip: float
    cavity: float
    teeth: float
    light_x: float
    light_y: float
    center: Tuple[float, float]


def viseme_tracks(timeline: Sequence[Tuple[str, int]], lead_hops: int = 2, smooth_hops: int = 7) -> np.ndarray:
    """Mouth-shape parameters per video frame, ``(n_frames, len(VISEME_FIELDS))``."""
    rows = [np.repeat(_TARGETS[PHONES[p].viseme][None], n * HOPS_PER_FRAME, axis=0) for p, n in timeline]
    hops = np.concatenate(rows, axis=0)
    hops = np.concatenate([hops[lead_hops:], np.repeat(hops[-1:], lead_hops, 0)], axis=0)  # lips lead audio
    hops = smooth(hops, smooth_hops)
    return hops[HOPS_PER_FRAME // 2 :: HOPS_PER_FRAME]


def _soft(d: np.ndarray, sharp: float = 1.0) -> np.ndarray:
    """Antialiased mask from a signed distance-like field (positive inside, ~pixels)."""
    return np.clip(0.5 + d * sharp, 0.0, 1.0)


def _upsample_matrix(n: int) -> np.ndarray:
    """``(2n, n)`` bilinear 2x interpolation matrix (pixel centres, edges clamped)."""
    src = (np.arange(2 * n) + 0.5) / 2 - 0.5
    k = np.floor(src).astype(int)
    frac = (src - k).astype(np.float32)
    m = np.zeros((2 * n, n), dtype=np.float32)
    np.add.at(m, (np.arange(2 * n), np.clip(k, 0, n - 1)), 1 - frac)
    np.add.at(m, (np.arange(2 * n), np.clip(k + 1, 0, n - 1)), frac)
    return m


_UP = _upsample_matrix(SIZE // 2)


def _upsample2(img: np.ndarray) -> np.ndarray:
    """Bilinear 2x upsampling of ``(T, 48, 48)`` to ``(T, 96, 96)`` as two matrix products."""
    return _UP @ img @ _UP.T


class NoiseBank:
    """A fixed bank of sensor-noise frames; clips take random frames with random shifts
    (far cheaper than drawing fresh Gaussian noise for every pixel)."""

    def __init__(self, seed: int, n: int = 64, sigma: float = 2.0):
        rng = np.random.default_rng([seed, 0x5EED])
        self.frames = (sigma * rng.standard_normal((n, SIZE, SIZE), dtype=np.float32)).astype(np.float32)

    def draw(self, t: int, rng: np.random.Generator) -> np.ndarray:
        idx = rng.integers(0, len(self.frames), t)
        dy, dx = (int(v) for v in rng.integers(0, SIZE, 2))
        return np.roll(self.frames[idx], (dy, dx), axis=(1, 2))


_DEFAULT_BANK: dict = {}


def render(tracks: np.ndarray, face: Face, rng: np.random.Generator, noise: "NoiseBank | None" = None) -> np.ndarray:
    """Render ``tracks`` (from :func:`viseme_tracks`) to ``uint8 (T, 96, 96)`` frames.

    Shapes are drawn at half resolution and upsampled bilinearly (a soft, camera-like image),
    then sensor noise from ``noise`` (a :class:`NoiseBank`; a default one otherwise) is added.
    """
    t = tracks.shape[0]
    f32 = np.float32
    p = {name: tracks[:, i].astype(f32)[:, None, None] for name, i in _FIELD.items()}
    # head pose: clip offset/scale/rotation plus a slow per-frame drift and a small shake
    drift = np.cumsum(rng.normal(0.0, 0.25, (t, 2)), axis=0) + rng.normal(0.0, 0.3, (t, 2))
    drift -= drift.mean(axis=0)
    off = np.asarray(face.center) + rng.uniform(-3.0, 3.0, 2) + drift
    scale = rng.uniform(0.93, 1.07)
    ang = rng.uniform(-0.08, 0.08)
    half = SIZE // 2
    grid = np.arange(half, dtype=f32) * 2 + 0.5  # half-res pixel centres in full-res units
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    xx = xx[None] - (SIZE / 2 + off[:, 0, None, None]).astype(f32)
    yy = yy[None] - (SIZE / 2 + 6 + off[:, 1, None, None]).astype(f32)
    c, s = f32(np.cos(ang) / scale), f32(np.sin(ang) / scale)
    x = c * xx + s * yy
    y = c * yy - s * xx

    rnd = p["round"]
    half_w = face.half_width * p["width"] * (1.0 - 0.22 * rnd)
    h_open = p["open"] * face.open_scale
    inner_w = half_w * (0.8 - 0.38 * rnd)
    inner_top = 0.55 * h_open + 0.2
    inner_bot = h_open - 0.35 * p["tuck"] + 0.2
    thick = 1.0 - 0.35 * p["press"]
    top = inner_top + face.lip_upper * thick * (1.0 + 0.25 * rnd)
    bot = inner_bot + face.lip_lower * thick * (1.0 + 0.25 * rnd) * (1.0 - 0.45 * p["tuck"])

    ax = np.abs(x)
    # outer lip contour: super-ellipse (exponent 2.5 spread .. 2 rounded); cupid's bow dip
    u = np.minimum(ax / half_w, 1.0)
    prof = np.sqrt(np.maximum(1.0 - u * u * ((1.0 - rnd) * np.sqrt(u) + rnd), 0.0))
    bow = 1.0 - 0.18 * (1.0 - rnd) / (1.0 + (x / (0.16 * half_w)) ** 2)
    upper = y < 0
    lips = _soft(np.minimum(np.where(upper, top * bow * prof + y, bot * prof - y), half_w - ax), 0.5)
    # mouth opening: ellipse of the inner lip edges
    v = np.minimum(ax / inner_w, 1.0)
    iprof = np.sqrt(1.0 - v * v)
    itop, ibot = inner_top * iprof, inner_bot * iprof
    opening = _soft(np.minimum(np.where(upper, itop + y, ibot - y), inner_w - ax), 0.6)
    opening *= np.clip(h_open / 1.2, 0.0, 1.0)  # closed lips show no gap

    img = face.skin + face.light_x / SIZE * x + face.light_y / SIZE * y
    jaw_y = (y - bot - 8.0 - 0.8 * h_open) / 5.0
    img -= 25.0 / (1.0 + (x / (half_w * 1.1)) ** 2 + jaw_y * jaw_y) ** 2  # jaw / chin shadow
    lip_shade = face.lip + np.where(upper, -12.0, 8.0 / (1.0 + ((y - inner_bot - 3.0) / 3.0) ** 2))
    img += lips * (lip_shade - img)
    interior = face.cavity + 6.0 * h_open / 11.0 + 0.0 * img
    teeth_up = p["teeth_up"] * _soft(4.0 - itop - y, 0.5)  # band under the upper lip edge
    teeth_lo = p["teeth_lo"] * _soft(y - ibot + 3.5, 0.5)
    interior += teeth_up * (face.teeth - interior)
    interior += teeth_lo * (face.teeth - 15.0 - interior)
    tr = (x / (0.45 * inner_w + 1e-3)) ** 2 + ((y - inner_bot * 0.55) / (0.5 * inner_bot + 1.0)) ** 2
    interior += p["tongue"] * _soft(1.0 - tr, 3.0) * (115.0 - interior)
    img += opening * (interior - img)

    img = _upsample2(img) * rng.uniform(0.97, 1.03, (t, 1, 1)).astype(f32)
    if noise is None:
        noise = _DEFAULT_BANK.setdefault("bank", NoiseBank(0))
    img += noise.draw(t, rng)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
