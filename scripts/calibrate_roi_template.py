"""Re-derive the MediaPipe and Haar constants of ``avhubert_ami/prep/landmarks.py`` from upstream's dlib recipe.

    python scripts/calibrate_roi_template.py      # needs the [roi] and [dlib] extras, scikit-image, matplotlib

On two face photos that ship inside installed wheels (scikit-image's astronaut, matplotlib's Grace
Hopper), rotated by -10/0/10 degrees and scaled by 0.75/1: dlib's 68 points are aligned to
upstream's mean face (``DLIB_TEMPLATE``) by the same similarity transform the ROI step uses; the
face-mesh stable points seen through that transform give ``MESH_TEMPLATE``, and the mesh stable
points and lip centre as fractions of OpenCV's Haar face box give ``_BOX_POINTS``. It also prints how
far the mesh lip centre lies from dlib's (points 48-67), in mean-face pixels.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avhubert_ami.prep.landmarks import DLIB_TEMPLATE, LandmarkDetector  # noqa: E402
from avhubert_ami.prep.mouth_roi import N_STABLE, similarity  # noqa: E402


def faces() -> dict:
    """Bundled face photos, RGB uint8."""
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    return {"astronaut": data.astronaut(), "grace_hopper": hopper}


def variants(img: np.ndarray):
    """The photo rotated and scaled about its centre."""
    import cv2

    h, w = img.shape[:2]
    for angle in (-10, 0, 10):
        for scale in (0.75, 1.0):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
            yield f"rot {angle:+d} scale {scale}", cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def main() -> int:
    mesh_in_frame, lip_offsets, box_fractions, labels = [], [], [], []
    for name, img in faces().items():
        for what, frame in variants(img):
            found = {}
            for backend in ("dlib", "mediapipe", "haar"):
                det = LandmarkDetector(backend)  # static photos: a fresh tracker each time
                found[backend] = det.face_box(frame) if backend == "haar" else det.detect(frame)
                det.close()
            if any(p is None for p in found.values()):
                print(f"{name} {what}: a backend found no face, skipped")
                continue
            dl, me, box = found["dlib"], found["mediapipe"], found["haar"]
            m = similarity(dl[:N_STABLE], DLIB_TEMPLATE)
            to_frame = lambda p, m=m: p @ m[:, :2].T + m[:, 2]  # noqa: E731
            mesh_in_frame.append(to_frame(me[:N_STABLE]))
            lip_offsets.append(to_frame(dl[N_STABLE:]).mean(0) - to_frame(me[N_STABLE:]).mean(0))
            points = np.vstack([me[:N_STABLE], me[N_STABLE:].mean(0, keepdims=True)])
            box_fractions.append((points - box[:2]) / box[2:])
            labels.append(f"{name} {what}")
    if not mesh_in_frame:
        print("no photo where every backend found the face")
        return 1
    # a detector that locked onto something else (e.g. dlib on the astronaut's suit) lands far away
    mesh_in_frame = np.array(mesh_in_frame)
    far = np.abs(mesh_in_frame - np.median(mesh_in_frame, 0)).max(axis=(1, 2)) > 10.0
    for i in np.flatnonzero(far):
        print(f"{labels[i]}: dlib and mesh disagree by > 10 mean-face px, left out")
    keep = ~far
    mesh_in_frame = mesh_in_frame[keep]
    lip_offsets, box_fractions = np.array(lip_offsets)[keep], np.array(box_fractions)[keep]
    np.set_printoptions(precision=2, suppress=True)
    print(f"{len(mesh_in_frame)} photo variants")
    print(
        "MESH_TEMPLATE =",
        np.round(np.mean(mesh_in_frame, 0), 1).tolist(),
        " (spread",
        np.std(mesh_in_frame, 0).max().round(2),
        ")",
    )
    print("lip centre dlib - mesh (mean-face px):", np.mean(lip_offsets, 0), "spread", np.std(lip_offsets, 0))
    print("_BOX_POINTS =", np.round(np.mean(box_fractions, 0), 2).tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
