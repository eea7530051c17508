"""A dependency that is not installed is named in one line with what to install (issue 24 item 10): the voice-activity
detector before any model loads, the face landmark detector (the ``[roi]`` extra) for each face video."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from avhubert_ami.data.audio import write_audio
from tests.support.training import trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


def test_missing_vad_is_one_line_before_the_model_loads(tmp_path, monkeypatch, cli_error):
    from avhubert_ami.cli.transcribe import main

    monkeypatch.setitem(sys.modules, "webrtcvad", None)  # `import webrtcvad` raises ImportError
    write_audio(str(tmp_path / "a.wav"), np.zeros(16000, np.float32))
    (tmp_path / "never_loaded.pt").write_bytes(b"not a checkpoint")
    argv = ["--path", str(tmp_path / "never_loaded.pt"), str(tmp_path / "a.wav"), "--output_dir", str(tmp_path / "o")]
    rc, line = cli_error(main, argv)
    assert rc == 2 and "the voice-activity detector is missing" in line and "pip install webrtcvad-wheels" in line


def test_missing_face_detector_names_the_roi_extra_for_face_videos(tmp_path_factory, tmp_path, monkeypatch, capsys):
    from avhubert_ami.cli.transcribe import main
    from avhubert_ami.testing.recordings import write_av

    for module in ("mediapipe", "cv2"):  # what the [roi] extra installs: `import` of either raises ImportError
        monkeypatch.setitem(sys.modules, module, None)
    face = write_av(str(tmp_path / "face.mkv"), np.full((25, 64, 64, 3), 90, np.uint8), 25.0, None)
    ckpt = trained_checkpoint(tmp_path_factory) / "checkpoints" / "checkpoint_best.pt"
    rc = main(["--path", str(ckpt), face, "--output_dir", str(tmp_path / "o"), "--cpu", "--beam", "1"])
    out = capsys.readouterr()
    assert rc == 1 and "Traceback" not in out.err
    assert "face videos need a face landmark detector" in out.out and "pip install 'avhubert-ami[roi]'" in out.out
    assert "--lip_video" in out.out
