"""A participant's close-up camera in a synthetic meeting, rendered and written chunk by chunk.

The mouth follows the participant's phone timelines while they speak (the visemes of
:mod:`avhubert_ami.synth.video`) and rests closed otherwise, except during the plan's non-speech motion: a smile
(spread lips, teeth), a chew (rhythmic opening) or a nod (the head dips: the mouth moves in the picture, not its
shape). Two looks:

* ``lip``: 96x96 gray mouth clips (what ``--lip_video`` consumes), lossless FFV1;
* ``face``: the mouth drawn onto a face photo (scikit-image's astronaut, its own mouth painted out; per participant
  mirrored or not and tinted) in AMI's close-up frame, 352x288, with slow head sway, MPEG-4 part 2 as AMI's.

:func:`avhubert_ami.synth.video.render` draws a head pose per call, so the clip is rendered in chunks of about
10 s cut where the participant is still (a pose change then looks like shifting in one's seat).
"""

from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np

from avhubert_ami.synth.audio import FPS
from avhubert_ami.synth.conversation import MOTIONS, MeetingPlan, Motion, rng_for
from avhubert_ami.synth.lexicon import VISEME_FIELDS, VISEMES, Viseme
from avhubert_ami.synth.streams import video_writer
from avhubert_ami.synth.video import SIZE, NoiseBank, render, viseme_tracks

FACE_SIZE = (288, 352)  # AMI close-ups: CIF, height x width
FACE_BIT_RATE = 600_000
CHUNK = 250  # frames per render call, about
_TAG_RENDER, _TAG_FRAMING = 0x52454E44, 0x4652414D


def _vec(v: Viseme) -> np.ndarray:
    return np.array([getattr(v, f) for f in VISEME_FIELDS], dtype=np.float64)


_REST = _vec(VISEMES["SIL"])
_SMILE = _vec(Viseme(open=2.5, width=1.3, round=0.0, teeth_up=0.9, teeth_lo=0.5))
_OPEN, _WIDTH, _PRESS = (VISEME_FIELDS.index(f) for f in ("open", "width", "press"))


def _envelope(n: int, ramp: float = 0.3) -> np.ndarray:
    """0 -> 1 -> 0 with raised-cosine ramps over ``ramp`` of the length at each end."""
    t = (np.arange(n) + 0.5) / n
    up = np.clip(np.minimum(t, 1 - t) / ramp, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * up)


def motion_shape(plan: MeetingPlan, m: Motion) -> Tuple[np.ndarray, np.ndarray]:
    """``(mouth-shape rows (n, len(VISEME_FIELDS)), head dip in 96-px ROI pixels (n,))`` of a non-speech motion."""
    rng = rng_for(*plan.key, _TAG_RENDER, m.participant, m.start)
    env = _envelope(m.n_frames)
    shape = np.repeat(_REST[None], m.n_frames, axis=0)
    dip = np.zeros(m.n_frames)
    if m.kind == "smile":
        shape += env[:, None] * (_SMILE - _REST) * rng.uniform(0.7, 1.0)
    elif m.kind == "chew":
        t = np.arange(m.n_frames) / FPS
        opening = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(1.2, 1.8) * t)
        shape[:, _OPEN] = env * rng.uniform(3.0, 5.0) * opening
        shape[:, _WIDTH] = 1.0 - 0.05 * env
        shape[:, _PRESS] = env * 0.6 * (1.0 - opening)
    elif m.kind == "nod":
        dips = 1 + int(m.n_frames > 22)  # a long nod dips twice
        dip = rng.uniform(3.0, 6.0) * np.sin(np.pi * dips * (np.arange(m.n_frames) + 0.5) / m.n_frames) ** 2
    else:
        raise ValueError(f"unknown motion {m.kind!r} (expected one of {', '.join(MOTIONS)})")
    return shape, dip


def _quiet(plan: MeetingPlan, participant: int) -> np.ndarray:
    """Frames where the participant neither speaks nor moves."""
    quiet = np.ones(plan.n_frames, dtype=bool)
    for u in plan.utterances:
        if u.participant == participant:
            quiet[u.start : u.end] = False
    for m in plan.motions:
        if m.participant == participant:
            quiet[m.start : m.start + m.n_frames] = False
    return quiet


def chunk_bounds(plan: MeetingPlan, participant: int, size: int = CHUNK) -> List[int]:
    """Frame boundaries ``[0, ..., n_frames]`` of the render chunks: about ``size`` apart, at a still frame of the
    participant where one is within ``size // 2``."""
    quiet = np.flatnonzero(_quiet(plan, participant))
    bounds = [0]
    while bounds[-1] + size < plan.n_frames:
        want = bounds[-1] + size
        near = quiet[(quiet > bounds[-1] + size // 2) & (np.abs(quiet - want) <= size // 2)]
        bounds.append(int(near[np.argmin(np.abs(near - want))]) if near.size else want)
    return bounds + [plan.n_frames]


class MouthTrack:
    """Mouth shapes and head dips of one participant, frame range by frame range."""

    def __init__(self, plan: MeetingPlan, participant: int) -> None:
        self.plan = plan
        self.utts = [u for u in plan.utterances if u.participant == participant]
        self.motions = [m for m in plan.motions if m.participant == participant]

    def frames(self, a: int, b: int) -> Tuple[np.ndarray, np.ndarray]:
        """``(shapes (b - a, len(VISEME_FIELDS)), dips (b - a,))`` of frames ``[a, b)``."""
        shapes = np.repeat(_REST[None], b - a, axis=0)
        dips = np.zeros(b - a)
        for m in self.motions:
            lo, hi = max(a, m.start), min(b, m.start + m.n_frames)
            if lo < hi:
                shape, dip = motion_shape(self.plan, m)
                shapes[lo - a : hi - a] = shape[lo - m.start : hi - m.start]
                dips[lo - a : hi - a] = dip[lo - m.start : hi - m.start]
        for u in self.utts:
            lo, hi = max(a, u.start), min(b, u.end)
            if lo < hi:
                shapes[lo - a : hi - a] = viseme_tracks(u.timeline)[lo - u.start : hi - u.start]
        return shapes, dips


def _shift_down(frames: np.ndarray, dips: np.ndarray) -> np.ndarray:
    """Frames moved down by ``dips`` pixels (bilinear in y, edges replicated)."""
    out = frames.copy()
    rows = np.arange(frames.shape[1])
    for i in np.flatnonzero(dips > 0.05):
        lo = np.floor(dips[i])
        w = dips[i] - lo
        a = frames[i][np.clip(rows - int(lo), 0, len(rows) - 1)].astype(np.float32)
        b = frames[i][np.clip(rows - int(lo) - 1, 0, len(rows) - 1)].astype(np.float32)
        out[i] = np.clip(np.rint((1 - w) * a + w * b), 0, 255).astype(np.uint8)
    return out


def mouth_chunks(plan: MeetingPlan, participant: int):
    """Yield ``(first frame, 96x96 gray mouth frames uint8, head dips)`` chunk after chunk."""
    spk = plan.participants[participant].speaker
    bank = NoiseBank((plan.key[0] * 1_000_003 + plan.key[1] * 31 + participant) & 0x7FFFFFFF)
    track = MouthTrack(plan, participant)
    bounds = chunk_bounds(plan, participant)
    for c, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        shapes, dips = track.frames(a, b)
        yield a, render(shapes, spk.face, rng_for(*plan.key, _TAG_RENDER, participant, c, 1), bank), dips


# ---------------------------------------------------------------- face close-ups
# In skimage.data.astronaut() (512x512): the mouth centre (testing.media.ASTRONAUT_MOUTH, checked by eye), the
# painted-out mouth region's half axes, and the face centre the camera frames.
_PHOTO_MOUTH = np.array([223.5, 146.0])
_PHOTO_MOUTH_AXES = (25, 13)
_PHOTO_FACE = np.array([224.0, 128.0])
_PATCH_MOUTH = np.array([SIZE / 2, SIZE / 2 + 6])  # where render() centres the mouth
_PATCH_SCALE = 0.62  # ROI pixels -> photo pixels: the synthetic mouth as wide as the photo's


def _photo(flip: bool, tint: Tuple[float, float, float]) -> Tuple[np.ndarray, np.ndarray]:
    """``(the face photo with its mouth painted out, mirrored and tinted (float32 RGB), its mouth centre)``."""
    try:
        import cv2
        from skimage import data
    except ImportError as e:
        raise ImportError(f"face close-ups need opencv-python and scikit-image (its astronaut photo): {e}") from None
    img = data.astronaut()
    mask = np.zeros(img.shape[:2], np.uint8)
    centre = tuple(int(round(v)) for v in _PHOTO_MOUTH)
    cv2.ellipse(mask, centre, _PHOTO_MOUTH_AXES, 0, 0, 360, 255, -1)
    img = cv2.inpaint(img, mask, 9, cv2.INPAINT_TELEA)
    mouth = _PHOTO_MOUTH.copy()
    if flip:
        img = img[:, ::-1]
        mouth[0] = img.shape[1] - 1 - mouth[0]
    return np.clip(img.astype(np.float32) * np.asarray(tint, np.float32), 0, 255), mouth


class FaceCamera:
    """Composes a participant's face close-up frames from their mouth frames."""

    def __init__(self, plan: MeetingPlan, participant: int) -> None:
        p = plan.participants[participant]
        self.photo, self.mouth = _photo(p.flip, p.tint)
        self.face = _PHOTO_FACE.copy()
        if p.flip:
            self.face[0] = self.photo.shape[1] - 1 - self.face[0]
        rng = rng_for(*plan.key, _TAG_FRAMING, participant)
        self.zoom = float(rng.uniform(0.6, 0.95))  # AMI close-ups show a small face
        self.offset = rng.uniform([-35.0, -20.0], [35.0, 20.0])
        self.sway_amp = rng.uniform([2.0, 1.0], [6.0, 4.0])
        self.sway_period = rng.uniform(4.0, 9.0, 2) * FPS
        self.sway_phase = rng.uniform(0, 2 * np.pi, 2)
        cast = rng.uniform(0.9, 1.1, 3).astype(np.float32)  # the camera's colour balance
        self.photo = np.clip(np.rint(self.photo * cast), 0, 255).astype(np.uint8)
        self.light = cast
        self.dark = np.array([0.7, 1.0, 0.95], np.float32) * cast  # lips and mouth: redder than the skin
        self.patch_to_photo = np.array(
            [
                [_PATCH_SCALE, 0.0, self.mouth[0] - _PATCH_SCALE * _PATCH_MOUTH[0]],
                [0.0, _PATCH_SCALE, self.mouth[1] - _PATCH_SCALE * _PATCH_MOUTH[1]],
                [0.0, 0.0, 1.0],
            ]
        )
        # alpha of the mouth's deviation from skin: a feathered ellipse around the ROI's mouth
        yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        r = np.sqrt(((xx - _PATCH_MOUTH[0]) / 42.0) ** 2 + ((yy - _PATCH_MOUTH[1]) / 34.0) ** 2)
        self.alpha = np.clip((1.0 - r) / 0.3, 0.0, 1.0).astype(np.float32)
        # skin plane of a mouth frame: least squares over the ROI's outer ring (away from the lips)
        ring = (r > 1.05).ravel()
        design = np.stack([np.ones(SIZE * SIZE), xx.ravel() / SIZE, yy.ravel() / SIZE], axis=1).astype(np.float32)
        self.ring = ring
        self.plane_fit = np.linalg.pinv(design[ring])
        self.design = design

    def _photo_to_frame(self, i: int, dip: float) -> np.ndarray:
        """Photo -> frame affine of meeting frame ``i``: slow sway and breathing zoom, plus a nod's dip (in ROI
        pixels, as :func:`motion_shape` gives it)."""
        h, w = FACE_SIZE
        s = self.zoom * (1.0 + 0.02 * np.sin(2 * np.pi * i / (1.7 * self.sway_period[0])))
        sway = self.sway_amp * np.sin(2 * np.pi * i / self.sway_period + self.sway_phase)
        tx = w / 2 - s * self.face[0] + self.offset[0] + sway[0]
        ty = h / 2 - s * self.face[1] + self.offset[1] + sway[1] + s * _PATCH_SCALE * dip
        return np.array([[s, 0.0, tx], [0.0, s, ty]])

    def frames(self, first: int, mouths: np.ndarray, dips: np.ndarray):
        """Yield RGB (288, 352, 3) uint8 frames, one per mouth frame (``first``: the first one's meeting frame)."""
        import cv2

        h, w = FACE_SIZE
        flat = mouths.reshape(len(mouths), -1).astype(np.float32)
        planes = (self.design @ (self.plane_fit @ flat[:, self.ring].T)).T.reshape(mouths.shape)
        devs = self.alpha * (mouths.astype(np.float32) - planes)  # the mouth's deviation from the skin
        corners = np.array([[0, 0, 1], [SIZE, 0, 1], [0, SIZE, 1], [SIZE, SIZE, 1]], np.float64).T
        for k, dev in enumerate(devs):
            m = self._photo_to_frame(first + k, float(dips[k]))
            frame = cv2.warpAffine(self.photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            to_frame = m @ self.patch_to_photo
            xs, ys = to_frame @ corners  # only the mouth's box of the frame changes
            x0, y0 = max(0, int(xs.min())), max(0, int(ys.min()))
            x1, y1 = min(w, int(np.ceil(xs.max())) + 1), min(h, int(np.ceil(ys.max())) + 1)
            if x0 >= x1 or y0 >= y1:
                yield frame
                continue
            to_box = to_frame - np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])
            box = cv2.warpAffine(dev, to_box, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)[..., None]
            region = frame[y0:y1, x0:x1].astype(np.float32) + np.where(box < 0, self.dark, self.light) * box
            frame[y0:y1, x0:x1] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
            yield frame


def render_closeup(plan: MeetingPlan, participant: int, path: str, mode: str) -> None:
    """Write the participant's close-up (``mode`` ``lip`` or ``face``) to ``path``, chunk by chunk."""
    if mode == "lip":
        with video_writer(path, SIZE, SIZE, rgb=False, codec="ffv1") as out:
            for _, mouths, dips in mouth_chunks(plan, participant):
                out.write(_shift_down(mouths, dips))
    elif mode == "face":
        camera = FaceCamera(plan, participant)
        h, w = FACE_SIZE
        with video_writer(path, w, h, rgb=True, codec="mpeg4", bit_rate=FACE_BIT_RATE) as out:
            for first, mouths, dips in mouth_chunks(plan, participant):
                for frame in camera.frames(first, mouths, dips):
                    out.write(frame[None])
    else:
        raise ValueError(f"close-up mode {mode!r}: expected lip or face")


def closeup_path(video_dir: str, plan: MeetingPlan, participant: int) -> str:
    """``video_dir/<MEETING>.Closeup<camera>.avi``."""
    return os.path.join(video_dir, f"{plan.meeting_id}.Closeup{plan.participants[participant].camera}.avi")
