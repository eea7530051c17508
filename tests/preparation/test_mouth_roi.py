"""mouth_roi on a real face (skimage's astronaut photo, bundled: no download) moving in a close-up frame."""

from __future__ import annotations

import os

import numpy as np
import pytest

from avhubert_ami.cli import mouth_roi
from avhubert_ami.data.video import probe_video, read_video, write_video
from avhubert_ami.errors import MediaError
from avhubert_ami.prep.mouth_roi import crop_mouth, crop_mouth_result
from avhubert_ami.testing.media import astronaut_frames
from tests.support import REPO
from tests.support.preparation import need_landmark_backend

pytest.importorskip("cv2")
pytest.importorskip("skimage")


def _centre_errors(result, mouths, fps_in):
    """Distance (px, in the crop) between the crop centre and the true mouth, per output frame."""
    idx = np.floor(np.arange(len(result.frames)) * fps_in / 25.0 + 1e-6).astype(int)
    centres = np.einsum("tij,tj->ti", result.transforms[:, :, :2], mouths[idx]) + result.transforms[:, :, 2]
    return np.linalg.norm(centres - 48.0, axis=1)


@pytest.mark.parametrize("backend", ["mediapipe", "dlib", "haar"])
def test_crop_is_centred_on_the_mouth(backend):
    need_landmark_backend(backend)
    rgb, mouths = astronaut_frames(36, blank=(15, 16))  # 30 fps, two frames without a face
    result = crop_mouth_result(rgb, 30.0, backend=backend)
    assert result.backend == backend
    assert result.frames.shape == (30, 96, 96) and result.frames.dtype == np.uint8  # 36 @ 30 fps -> 30 @ 25
    assert not result.detected[13] and result.detected.sum() >= 27  # blank input frames 15, 16 -> output 12/13
    err = _centre_errors(result, mouths, 30.0)
    limit = 16.0 if backend == "haar" else 8.0
    assert np.median(err) < limit, err
    assert np.all(np.isfinite(result.transforms))
    # the mouth is dark-lipped / bright-toothed: the centre rows differ from the crop's top (nose/cheek)
    assert result.frames[:, 40:56, 30:66].std() > 20


@pytest.mark.parametrize("backend", ["mediapipe", "dlib"])
def test_small_faces_are_found(backend):
    """A face ~45-55 px wide in a 352x288 close-up (MediaPipe's full-frame detector misses it)."""
    need_landmark_backend(backend)
    rgb, mouths = astronaut_frames(10, zoom=0.4)
    result = crop_mouth_result(rgb, 25.0, backend=backend, window=1)  # (the clip moves fast)
    assert result.detected.all()
    assert np.median(_centre_errors(result, mouths, 25.0)) < 8.0


def test_mesh_crops_match_upstreams_dlib_recipe():
    """The face-mesh template is calibrated to upstream's dlib + mean-face geometry: same scale, same crop."""
    need_landmark_backend("mediapipe")
    need_landmark_backend("dlib")
    rgb, _ = astronaut_frames(30)
    mesh, dlib = (crop_mouth_result(rgb, 25.0, backend=b) for b in ("mediapipe", "dlib"))
    assert (mesh.backend, dlib.backend) == ("mediapipe", "dlib") and dlib.detected.all()
    scale = [np.sqrt(np.abs(np.linalg.det(r.transforms[:, :, :2]))).mean() for r in (mesh, dlib)]
    assert abs(scale[0] / scale[1] - 1) < 0.03, scale
    corr = np.corrcoef(mesh.frames.ravel().astype(float), dlib.frames.ravel().astype(float))[0, 1]
    assert corr > 0.95, corr


def test_no_face_fails_clearly():
    with pytest.raises(MediaError, match="no face found"):
        crop_mouth(np.full((5, 64, 64, 3), 128, np.uint8), 25.0, where="blank.mp4", backend="haar")


def test_cli_file_and_folder(tmp_path, capsys):
    rgb, _ = astronaut_frames(30)
    os.makedirs(tmp_path / "in" / "sub")
    write_video(str(tmp_path / "in" / "a.avi"), rgb, fps=30.0)
    write_video(str(tmp_path / "in" / "sub" / "b.mkv"), rgb[:25], fps=25.0)
    write_video(str(tmp_path / "in" / "sub" / "empty.mkv"), np.full((5, 64, 64), 128, np.uint8), fps=25.0)
    out = str(tmp_path / "new" / "roi.mkv")  # into a folder that does not exist yet
    assert mouth_roi.main(["--input", str(tmp_path / "in" / "a.avi"), "--output", out]) == 0
    info = probe_video(out)
    assert (info.n_frames, info.fps, info.height, info.width) == (25, 25.0, 96, 96)
    assert "real-time factor" in capsys.readouterr().out
    # folder mode: same relative names, the face-less video fails and is reported, re-run skips
    rc = mouth_roi.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--num-workers", "2"])
    report = capsys.readouterr().out
    assert rc == 1 and "no face found" in report and "written: 2" in report
    assert read_video(str(tmp_path / "out" / "sub" / "b.mkv")).shape == (25, 96, 96)
    assert read_video(str(tmp_path / "out" / "a.avi")).shape == (25, 96, 96)
    mouth_roi.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")])
    assert "skipped (already done): 2" in capsys.readouterr().out


def test_killed_folder_run_resumes(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    rgb, _ = astronaut_frames(25)
    os.makedirs(tmp_path / "in")
    for i in range(6):
        write_video(str(tmp_path / "in" / f"v{i}.avi"), rgb, fps=25.0)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "preprocess.mouth_roi", "--input", str(tmp_path / "in"), "--output", str(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not (out / "v0.avi").exists():
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len([f for f in os.listdir(out) if f.endswith(".avi")])
    assert 1 <= n_done < 6, "the run should have been killed mid-way"
    assert mouth_roi.main(["--input", str(tmp_path / "in"), "--output", str(out)]) == 0
    assert sorted(os.listdir(out)) == [f"v{i}.avi" for i in range(6)]  # no temporary leftovers
    for i in range(6):
        assert read_video(str(out / f"v{i}.avi")).shape == (25, 96, 96)


def test_dlib_models_load_once_per_process():
    """One detector per AMI segment: the ~100 MB predictor must not be re-read each time."""
    need_landmark_backend("dlib")
    from avhubert_ami.prep.landmarks import LandmarkDetector

    a, b = LandmarkDetector("dlib"), LandmarkDetector("dlib")
    assert a._predictor is b._predictor and a._hog is b._hog
