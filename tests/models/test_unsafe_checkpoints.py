"""A malicious checkpoint (a pickle whose reduce would write a marker file) is refused by every entry point with the
one message of avhubert_ami.checkpoints.safe_load.refusal_message, and the marker never appears."""

import os
import subprocess
import sys

import pytest
import torch

from avhubert_ami.checkpoints.safe_load import UNSAFE_ENV
from avhubert_ami.testing.tiny_data import make_tiny_split
from tests.support import REPO
from tests.support.processes import quiet_env
from tests.support.training import USER_DIR


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"cfg": None, "model": {}, "extra_state": {"x": _Payload(marker)}}, path)
    return path, marker


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("refusal_data"))
    make_tiny_split(d, n=2, split="test", frames=(12,))
    return d


def _assert_one_message(err_text, path, marker):
    assert not marker.exists(), "the pickle's code ran"
    assert "Traceback" not in err_text, err_text[-3000:]
    lines = [ln for ln in err_text.splitlines() if "refused to load" in ln]
    assert len(lines) == 1, err_text[-3000:]
    line = lines[0]
    for part in (str(path), "posix.system", "arbitrary code", f"{UNSAFE_ENV}=1"):
        assert part in line, line
    assert "--model_name_or_path" not in line


def test_finetune_cli_model_name_or_path(evil, data, tmp_path, capsys):
    from avhubert_ami.cli import finetune as cli

    path, marker = evil
    assert (
        cli.main(
            [
                "--output_dir",
                str(tmp_path / "o"),
                "--dataset_name",
                data,
                "--do_train",
                "--model_name_or_path",
                str(path),
            ]
        )
        == 2
    )
    _assert_one_message(capsys.readouterr().err, path, marker)


def test_finetune_cli_do_eval_of_the_runs_own_checkpoint(evil, data, tmp_path, capsys):
    from avhubert_ami.cli import finetune as cli

    path, marker = evil
    ckpts = tmp_path / "o" / "checkpoints"
    ckpts.mkdir(parents=True)
    for name in ("checkpoint_last.pt", "checkpoint_best.pt"):
        (ckpts / name).write_bytes(path.read_bytes())
    assert cli.main(["--output_dir", str(tmp_path / "o"), "--dataset_name", data, "--do_eval"]) == 2
    _assert_one_message(capsys.readouterr().err, ckpts / "checkpoint_best.pt", marker)


def test_finetune_cli_resume_of_the_runs_own_checkpoint(evil, data, tmp_path, capsys):
    from avhubert_ami.cli import finetune as cli

    path, marker = evil
    last = tmp_path / "o" / "checkpoints" / "checkpoint_last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(path.read_bytes())
    assert cli.main(["--output_dir", str(tmp_path / "o"), "--dataset_name", data, "--do_train"]) == 2
    _assert_one_message(capsys.readouterr().err, last, marker)


def test_avhubert_decode(evil, data, tmp_path, capsys):
    from avhubert_ami.cli import decode

    path, marker = evil
    assert decode.main(["--path", str(path), "--data", data, "--cpu", "--results_dir", str(tmp_path / "r")]) == 2
    _assert_one_message(capsys.readouterr().err, path, marker)


@pytest.mark.parametrize("module", ["fairseq_cli.generate", "fairseq_cli.validate"])
def test_fairseq_generate_and_validate(evil, data, module):
    path, marker = evil
    subset = "--gen-subset" if module.endswith("generate") else "--valid-subset"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            module,
            data,
            "--user-dir",
            str(USER_DIR),
            "--task",
            "ami_av",
            "--path",
            str(path),
            subset,
            "test",
            "--batch-size",
            "1",
            "--cpu",
        ],
        capture_output=True,
        text=True,
        env=quiet_env(),
        cwd=REPO,
        timeout=300,
    )
    assert p.returncode != 0
    _assert_one_message(p.stderr, path, marker)
