"""A disk that fills while a model trains: the command ends with one line (exit 1) that says to free space and where a
re-run resumes, leaves no temporary file behind, and the re-run finishes (fairseq printed five chained tracebacks)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import REPO
from tests.support.processes import quiet_env
from tests.support.training import guide_cmd, tiny_data


@pytest.fixture
def small_disk(tmp_path):
    """``(folder, grow)``: a 5 MiB tmpfs (root only) and the function that resizes it (``grow("64m")``)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    path = tmp_path / "disk"
    path.mkdir()

    mount = ["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(path)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")

    def grow(size):
        subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True)

    yield path, grow
    subprocess.run(["umount", str(path)], check=False, capture_output=True)


def _run(cmd):
    return subprocess.run(cmd, cwd=REPO, env=quiet_env(), capture_output=True, text=True, timeout=1200)


def _assert_one_line_full_disk(p):
    assert p.returncode == 1, p.stderr[-3000:]
    assert "Traceback" not in p.stderr, p.stderr[-5000:]
    lines = [line for line in p.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 1, p.stderr[-3000:]
    assert "No space left on device" in lines[0] and "free space and re-run the same command" in lines[0]
    return lines[0]


def _temporaries(folder):
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if f.endswith(".tmp")]


@pytest.mark.slow
def test_lm_training_on_a_full_disk(tmp_path, small_disk):
    disk, grow = small_disk
    data = tiny_data(tmp_path / "data")
    out = disk / "lm"
    cmd = [sys.executable, "-m", "avhubert_ami.cli.train_lm", "--manifest_dir", str(data), "--output_dir", str(out)]
    cmd += ["--max_update", "4", "checkpoint.save_interval_updates=1"]  # a 2 MB checkpoint each update
    line = _assert_one_line_full_disk(_run(cmd))
    assert f"it resumes from {out / 'checkpoint_last.pt'}" in line
    assert _temporaries(out) == []
    grow("64m")
    p = _run(cmd)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (out / "checkpoint_best.pt").is_file()


@pytest.mark.slow
def test_guide_training_on_a_full_disk(tmp_path, small_disk):
    disk, grow = small_disk
    grow("25m")  # room for two 10 MB checkpoints of the tiny_cpu model, not for the third
    data = tiny_data(tmp_path / "data")
    out = disk / "run"
    cmd = guide_cmd(out, data, "--max_steps", "4", "--save_steps", "1", "--override", "lr_scheduler.decay_steps=3")
    _assert_one_line_full_disk(_run(cmd))
    assert _temporaries(out) == []
    grow("128m")
    p = _run(cmd)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (out / "checkpoints" / "checkpoint_last.pt").is_file()
