"""avhubert-train-lm's errors are one line: a checkpoint_last.pt that is empty or refused is reported before any
trainer starts (it printed a traceback and then advised to re-run the same command, which could never succeed), and a
read-only output folder is a user error."""

from __future__ import annotations

import pytest

from avhubert_ami.cli import train_lm
from tests.support.training import tiny_data


class NotAllowlisted:
    """A class no checkpoint may pickle without the user's opt-in."""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("lm_err_data"))


def _one_line(capfd):
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def _argv(data, out):
    return ["--manifest_dir", str(data), "--output_dir", str(out), "--max_update", "2"]


def test_an_empty_checkpoint_last_is_one_line_before_training(tmp_path, data, capfd):
    out = tmp_path / "lm"
    out.mkdir()
    (out / "checkpoint_last.pt").write_bytes(b"")
    assert train_lm.main(_argv(data, out)) == 1
    line = _one_line(capfd)
    assert line.startswith("avhubert-train-lm: error: ")
    assert f"{out / 'checkpoint_last.pt'} is not a torch checkpoint (0 bytes)" in line and "move it away" in line
    assert "re-run the same command" not in line
    assert not (out / "hydra").exists()  # no trainer was started


def test_a_refused_checkpoint_last_is_a_user_error(tmp_path, data, capfd):
    import torch

    out = tmp_path / "lm"
    out.mkdir()
    torch.save({"model": {}, "extra": NotAllowlisted()}, out / "checkpoint_last.pt")
    assert train_lm.main(_argv(data, out)) == 2
    line = _one_line(capfd)
    assert str(out / "checkpoint_last.pt") in line and "NotAllowlisted" in line
    assert not (out / "hydra").exists()


def test_a_read_only_output_folder_is_one_line(read_only_dir, data, cli_error):
    rc, line = cli_error(train_lm.main, _argv(data, read_only_dir / "lm"))
    assert rc == 2
    assert str(read_only_dir / "lm") in line and "Read-only file system" in line or "Permission denied" in line
