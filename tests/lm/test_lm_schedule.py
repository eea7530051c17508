"""The LM presets validate and save by updates, not after every epoch (on 1,000 transcripts an epoch is 3 updates:
1,000 updates took 1,395 s, most of it validating), and stop when the validation loss no longer falls, saying so."""

from __future__ import annotations

import subprocess
import sys

import pytest

from avhubert_ami.training.trainer_processes import EARLY_STOP_LINE, stopped_early
from tests.support import REPO
from tests.support.processes import quiet_env
from tests.support.training import tiny_data


def test_an_early_stop_is_found_in_this_runs_part_of_the_log(tmp_path):
    log = tmp_path / "hydra_train.log"
    log.write_text(f"[x][fairseq_cli.train][INFO] - {EARLY_STOP_LINE} hasn't improved for last 4 runs\n")
    start = log.stat().st_size
    assert stopped_early(log, 0) == f"{EARLY_STOP_LINE} hasn't improved for last 4 runs"
    assert stopped_early(log, start) is None  # a previous run's stop is not this run's
    assert stopped_early(tmp_path / "absent.log") is None


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("lm_schedule_data"))


def _train_lm(data, out, *args):
    cmd = [sys.executable, "-m", "avhubert_ami.cli.train_lm", "--manifest_dir", str(data), "--output_dir", str(out)]
    p = subprocess.run([*cmd, *args], cwd=REPO, env=quiet_env(), capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout + p.stderr, (out / "hydra" / "hydra_train.log").read_text()


@pytest.mark.slow
def test_the_tiny_preset_validates_by_updates_not_epochs(tmp_path, data):
    # 6 training sentences: one update an epoch, so a per-epoch schedule validates and saves at every update
    _, log = _train_lm(data, tmp_path / "lm", "--max_update", "3")
    assert log.count("valid on 'valid' subset") == 1  # at max_update only, not after epochs 1, 2, 3
    assert "num_updates 3" in log and (tmp_path / "lm" / "checkpoint_best.pt").is_file()


@pytest.mark.slow
def test_training_stops_when_the_validation_loss_stops_falling_and_says_so(tmp_path, data):
    # lr 0: the loss never changes, so the second validation is no better than the first
    out, log = _train_lm(
        data,
        tmp_path / "lm",
        "--max_update",
        "20",
        "optimization.lr=[0.0]",
        "dataset.validate_interval_updates=1",
        "checkpoint.save_interval_updates=1",
        "checkpoint.patience=1",
    )
    assert EARLY_STOP_LINE in log and "num_updates 20" not in log
    assert "LM training stopped early" in out and "lowest validation loss" in out
    assert (tmp_path / "lm" / "checkpoint_best.pt").is_file()
