"""User errors of the guide CLI and avhubert-decode end in one clear line and a non-zero exit (no traceback)."""

import os

import pytest

from avhubert_ami.cli import finetune as cli
from avhubert_ami.testing.tiny_data import make_tiny_split


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("cli_err_data"))
    make_tiny_split(d, n=2, split="train", frames=(12,))
    make_tiny_split(d, n=2, split="test", frames=(12,))
    return d


def _one_error_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1, err[-3000:]
    return lines[0]


def _unwritable(tmp_path):
    """A folder that cannot be created (a file is in the way): unwritable even for root."""
    (tmp_path / "a_file").write_text("x")
    return tmp_path / "a_file" / "out"


def test_unwritable_output_dir(tmp_path, data, capsys):
    out = _unwritable(tmp_path)
    assert cli.main(["--output_dir", str(out), "--dataset_name", data, "--do_train"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--output_dir {out}: cannot write there" in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_dir(tmp_path, data, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert cli.main(["--output_dir", str(ro), "--dataset_name", data, "--do_train"]) == 2
    finally:
        ro.chmod(0o755)
    assert "cannot write there" in _one_error_line(capsys.readouterr().err)


def test_do_eval_without_a_checkpoint_does_not_blame_an_absent_flag(tmp_path, data, capsys):
    assert cli.main(["--output_dir", str(tmp_path / "o"), "--dataset_name", data, "--do_eval"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "no --model_name_or_path was given" in line


def test_decode_into_an_unwritable_results_dir(tmp_path, tmp_path_factory, data, capsys):
    from avhubert_ami.cli import decode
    from tests.support.decoding import decode_args
    from tests.support.training import trained_checkpoint

    run_dir = trained_checkpoint(tmp_path_factory)
    out = _unwritable(tmp_path)
    checkpoint = run_dir / "checkpoints" / "checkpoint_last.pt"
    args = decode_args(checkpoint, run_dir.parent / "data", beam=1, max_len_b=3, results_dir=out)
    assert decode.main(args) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "a_file") in _one_error_line(err) and "decode test" not in err  # checked before decoding


def test_decode_of_a_truncated_checkpoint(tmp_path, data, capsys):
    import torch

    from avhubert_ami.cli import decode

    path = tmp_path / "checkpoint_best.pt"
    torch.save({"model": {"w": torch.zeros(50_000)}}, path)
    path.write_bytes(path.read_bytes()[:100_000])
    assert decode.main(["--path", str(path), "--data", data, "--cpu"]) == 1  # a file that cannot be read
    assert f"{path}: unreadable checkpoint, truncated" in _one_error_line(capsys.readouterr().err)


def test_resume_with_no_intact_checkpoint_left(tmp_path, data, capsys):
    last = tmp_path / "o" / "checkpoints" / "checkpoint_last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"PK\x03\x04 cut short")
    assert cli.main(["--output_dir", str(tmp_path / "o"), "--dataset_name", data, "--do_train"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"{last} is truncated or corrupt" in line and "move it away" in line
