"""Face-landmark backends of the mouth ROI: which points each finds, and where they sit on upstream's mean face.

A backend returns per frame 5 *stable* points (eye corners and nose) followed by lip points. Its
``template`` places the stable points in upstream AV-HuBERT's 256x256 mean-face frame
(``avhubert/preparation/align_mouth.py``: dlib 68-point ids 33, 36, 39, 42, 45 of the LRS3
``20words_mean_face.npy``), so a 96x96 crop around the lip centre has upstream's scale and
orientation whichever backend found the points:

* ``dlib``: upstream's own recipe -- dlib's 68-point predictor (shipped by ``face_recognition_models``),
  HOG face detector with the CNN detector as fallback; the template is the mean face itself, the lip
  centre the mean of points 48-67.
* ``mediapipe``: face-mesh ids (its models ship in the ``mediapipe`` 0.10.14 wheel). Template measured
  against dlib on two bundled face photos under rotation and scale
  (``scripts/calibrate_roi_template.py``, 11 views: spread <= 1.8 px; mesh and dlib lip centres
  agree within 0.8 px). How the mesh's eye corners sit relative to dlib's varies with the person:
  the two faces differ by ~5% in eye-corner spacing, so mesh crops match dlib crops to ~+-3% in scale.
* ``haar``: OpenCV's bundled face cascade; points are fixed fractions of the face box (coarse).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, Optional, Tuple

import numpy as np

# dlib 68-point ids upstream aligns with (nose tip, outer/inner corners of each eye) and their
# positions in upstream's mean face (256x256 frame).
DLIB_STABLE_IDS = (33, 36, 39, 42, 45)
DLIB_TEMPLATE = np.array([[128.87, 137.30], [92.52, 94.37], [112.77, 94.94], [145.53, 94.53], [166.68, 93.57]])
DLIB_MOUTH_IDS = tuple(range(48, 68))
# MediaPipe face-mesh ids: outer/inner eye corners (image-left eye first) and nose tip ...
MESH_STABLE_IDS = (33, 133, 362, 263, 1)
# ... where they land in that frame when dlib's points are aligned to the mean face (calibrated).
MESH_TEMPLATE = np.array([[88.0, 93.5], [113.3, 95.1], [144.7, 95.2], [170.0, 93.9], [129.3, 130.4]])
# Outer-lip ring points whose mean is the lip centre.
MESH_MOUTH_IDS = (61, 291, 0, 17, 37, 267, 84, 314, 40, 270, 91, 321)
_MESH_IDS = MESH_STABLE_IDS + MESH_MOUTH_IDS
# Haar fallback: the mesh's stable points and the lip centre as fractions of the face box (x, y), calibrated.
_BOX_POINTS = np.array([[0.21, 0.39], [0.39, 0.39], [0.61, 0.39], [0.79, 0.38], [0.51, 0.64], [0.51, 0.78]])
BACKENDS = ("auto", "mediapipe", "dlib", "haar")


def _dlib_model(name: str) -> str:
    """Path of a model file of the ``face_recognition_models`` package (not imported: it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    path = os.path.join(spec.submodule_search_locations[0], "models", name) if spec else ""
    if not os.path.isfile(path):
        raise ImportError(f"dlib's {name} not found: pip install -e '.[dlib]' (dlib-bin + face-recognition-models)")
    return path


@functools.lru_cache(maxsize=None)
def _dlib_models() -> Tuple[Any, Any]:
    """dlib's 68-point predictor and HOG face detector, loaded once per process (the predictor file is
    ~100 MB and takes ~1.7 s to load: once per AMI segment would add hours)."""
    import dlib

    return dlib.shape_predictor(_dlib_model("shape_predictor_68_face_landmarks.dat")), dlib.get_frontal_face_detector()


@functools.lru_cache(maxsize=None)
def _dlib_cnn() -> Any:
    """dlib's CNN face detector (the fallback when HOG finds nothing), loaded once per process."""
    import dlib

    return dlib.cnn_face_detection_model_v1(_dlib_model("mmod_human_face_detector.dat"))


class LandmarkDetector:
    """Per-video detector: ``detect(rgb) -> (5 + n_lip, 2)`` pixel points or None; ``template`` (5, 2)."""

    def __init__(self, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"landmark backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        for name in ("mediapipe", "dlib") if backend == "auto" else (backend,):
            try:
                getattr(self, f"_init_{name}")()
                self.backend = name
                return
            except ImportError:
                if backend == name:
                    raise
        self._init_haar()
        self.backend = "haar"

    def _init_mediapipe(self) -> None:
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )
        self._window_mesh = None  # static face mesh for the window search, made on first need
        self._window: Optional[Tuple[int, int]] = None  # (x0, y0) of the window a small face was last found in
        self.template = MESH_TEMPLATE

    def _init_dlib(self) -> None:
        self._predictor, self._hog = _dlib_models()
        self._track: Optional[_DlibTrack] = None
        self.template = DLIB_TEMPLATE

    def _init_haar(self) -> None:
        import cv2

        self._cascade = cv2.CascadeClassifier(
            os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        )
        self.template = MESH_TEMPLATE

    def detect(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        """Stable points then lip points of one face in ``rgb`` (H, W, 3) (mesh: the first found, dlib: the
        most confident, haar: the largest), or None."""
        return getattr(self, f"_detect_{self.backend}")(rgb)

    def _detect_mediapipe(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        points = _mesh_points(self._mesh, rgb)
        if points is not None:
            return points
        # MediaPipe's detector sees the whole frame at 128x128: faces under ~60 px in a CIF close-up
        # vanish. Look again in overlapping windows of 3/5 of the frame (faces down to ~35 px), first in
        # the one the face was found in last frame (a small face moves little between frames).
        h, w = rgb.shape[:2]
        wh, ww = (3 * h) // 5, (3 * w) // 5
        windows = [(x0, y0) for y0 in (0, (h - wh) // 2, h - wh) for x0 in (0, (w - ww) // 2, w - ww)]
        if self._window in windows:
            windows.remove(self._window)
            windows.insert(0, self._window)
        for x0, y0 in windows:
            points = self._mesh_in_window(rgb, x0, y0)
            if points is not None:
                self._window = (x0, y0)
                return points
        self._window = None
        return None

    def _mesh_in_window(self, rgb: np.ndarray, x0: int, y0: int) -> Optional[np.ndarray]:
        """Points of a face in the 3/5-frame window at ``(x0, y0)`` (static mesh: detector + mesh), or None."""
        if self._window_mesh is None:
            import mediapipe as mp

            self._window_mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=0.5
            )
        h, w = rgb.shape[:2]
        points = _mesh_points(self._window_mesh, rgb[y0 : y0 + (3 * h) // 5, x0 : x0 + (3 * w) // 5])
        return None if points is None else points + np.array([x0, y0], dtype=np.float64)

    def _detect_dlib(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        import cv2

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self._track is not None:  # detect once, then track: the predictor on the box the last points give
            pts = self._track.follow(self._predictor, gray)
            if pts is not None:
                return pts[list(DLIB_STABLE_IDS + DLIB_MOUTH_IDS)]
            self._track = None
        rects, scores, _ = self._hog.run(gray, 1, 0.0)  # upsampled once, as upstream
        if not len(rects):
            found = _dlib_cnn()(gray)
            rects, scores = [d.rect for d in found], [d.confidence for d in found]
        if not len(rects):
            return None
        # the most confident face (upstream takes the last one found; a shirt can be a "face" too)
        rect = rects[int(np.argmax(scores))]
        shape = self._predictor(gray, rect)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        self._track = _DlibTrack(rect, pts)
        return pts[list(DLIB_STABLE_IDS + DLIB_MOUTH_IDS)]

    def face_box(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        """Haar backend: ``(x, y, width, height)`` of the largest face, or None."""
        import cv2

        h, w = rgb.shape[:2]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        side = max(24, min(h, w) // 8)  # faces smaller than 1/8 of the frame are not lip-readable anyway
        faces = self._cascade.detectMultiScale(gray, scaleFactor=1.15, minNeighbors=5, minSize=(side, side))
        return np.array(max(faces, key=lambda f: f[2] * f[3]), dtype=np.float64) if len(faces) else None

    def _detect_haar(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        box = self.face_box(rgb)
        return None if box is None else box[:2] + _BOX_POINTS * box[2:]

    def reset(self) -> None:
        """Forget the previous video (tracking state): the next ``detect`` starts as a new detector's would."""
        if self.backend == "mediapipe":
            self._mesh.reset()  # restarts its graph run: ~1/3 of the cost of a new FaceMesh
            self._window = None
        elif self.backend == "dlib":
            self._track = None

    def close(self) -> None:
        if self.backend == "mediapipe":
            for mesh in (self._mesh, self._window_mesh):
                if mesh is not None:
                    mesh.close()


@functools.lru_cache(maxsize=None)
def _shared(backend: str) -> LandmarkDetector:
    return LandmarkDetector(backend)


def shared_detector(backend: str = "auto") -> LandmarkDetector:
    """This process's detector for ``backend``, reset for a new video: one AMI segment after another
    would otherwise build a MediaPipe graph each (~0.1 s, as long as cropping a 1 s segment)."""
    detector = _shared(backend)
    detector.reset()
    return detector


class _DlibTrack:
    """dlib between detections: the 68-point predictor run on the box the previous frame's points give.

    At a detection the HOG box is stored relative to the points' centre and spread, so a tracked box
    sits where HOG would put it on the moved face (the predictor's points depend on the box it gets).
    The detector runs again every ``redetect_every`` frames and when the points jump (tracking lost)."""

    def __init__(self, rect: Any, pts: np.ndarray, redetect_every: int = 50) -> None:
        centre, spread = _centre_spread(pts)
        box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float64)
        self.rel_box = (box - np.tile(centre, 2)) / spread
        self.pts, self.left = pts, redetect_every - 1
        self.patch: Optional[np.ndarray] = None  # the face box of the last frame, 32x32, zero-mean unit-norm

    def follow(self, predictor: Any, gray: np.ndarray) -> Optional[np.ndarray]:
        """The 68 points in ``gray``, or None when it is time to detect again."""
        import dlib

        if self.left <= 0:
            return None
        centre, spread = _centre_spread(self.pts)
        x0, y0, x1, y1 = np.rint(np.tile(centre, 2) + self.rel_box * spread).astype(int)
        shape = predictor(gray, dlib.rectangle(int(x0), int(y0), int(x1), int(y1)))
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        new_centre, new_spread = _centre_spread(pts)
        # a face moves a few px and changes size by a few % per frame: more means the points lost it
        if not (0.85 < new_spread / spread < 1.18) or np.linalg.norm(new_centre - centre) > 0.5 * spread:
            return None
        # the predictor puts points on anything, a face or not: the box must still look like last frame's
        patch = _box_patch(gray, x0, y0, x1, y1)
        if patch is None or (self.patch is not None and float((patch * self.patch).sum()) < 0.7):
            return None
        self.pts, self.left, self.patch = pts, self.left - 1, patch
        return pts


def _box_patch(gray: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> Optional[np.ndarray]:
    """The box of ``gray`` at 32x32, zero-mean and unit-norm (for a correlation), or None when flat."""
    import cv2

    h, w = gray.shape
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    patch = cv2.resize(gray[y0:y1, x0:x1], (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    patch -= patch.mean()
    norm = float(np.linalg.norm(patch))
    return patch / norm if norm > 32.0 else None  # (a flat patch: no face)


def _centre_spread(pts: np.ndarray) -> Tuple[np.ndarray, float]:
    """Centre of landmark points and their RMS distance from it."""
    centre = pts.mean(0)
    return centre, float(np.sqrt(((pts - centre) ** 2).sum(1).mean())) or 1.0


def _mesh_points(mesh, rgb: np.ndarray) -> Optional[np.ndarray]:
    """Stable + lip points (pixels) of the first face a MediaPipe face mesh finds in ``rgb``, or None."""
    h, w = rgb.shape[:2]
    lm = _mesh_landmarks(mesh, np.ascontiguousarray(rgb))
    if lm is None:
        return None
    return np.array([[lm[i].x * w, lm[i].y * h] for i in _MESH_IDS], dtype=np.float64)


def _mesh_landmarks(mesh, rgb: np.ndarray) -> Optional[Any]:
    """The first face's 468 normalised landmarks (protobuf) a MediaPipe ``FaceMesh`` finds in ``rgb``, or None.

    ``FaceMesh.process`` builds a namedtuple class per call and converts every output stream: ~0.3 ms a
    frame, an eighth of the mesh's cost in tracking mode. This feeds the solution's own graph the way
    ``process`` does (``SolutionBase`` internals of mediapipe 0.10.14, the release setup.py pins) and reads
    the one stream needed; another release without them takes ``process``."""
    graph, outputs = getattr(mesh, "_graph", None), getattr(mesh, "_graph_outputs", None)
    if graph is None or outputs is None or not hasattr(mesh, "_simulated_timestamp"):
        faces = mesh.process(rgb).multi_face_landmarks
        return faces[0].landmark if faces else None
    from mediapipe.python import packet_creator, packet_getter
    from mediapipe.python._framework_bindings.image_frame import ImageFormat

    outputs.clear()
    mesh._simulated_timestamp += 33333  # (process's fake 30 fps clock: only its order matters)
    packet = packet_creator.create_image_frame(rgb, image_format=ImageFormat.SRGB)
    graph.add_packet_to_input_stream(stream="image", packet=packet.at(mesh._simulated_timestamp))
    graph.wait_until_idle()
    found = outputs.get("multi_face_landmarks")
    if found is None or found.is_empty():
        return None
    faces = packet_getter.get_proto_list(found)
    return faces[0].landmark if faces else None
