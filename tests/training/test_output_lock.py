"""One training run at a time in an output folder, for the guide CLI and avhubert-train-lm (two runs into one folder
both said "No existing checkpoint found", finished with exit 0 and left one checkpoint; a second LM run resumed the
first's checkpoint while it trained). The lock names its holder's pid, is held while fairseq trains, and a killed
run's lock is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from avhubert_ami.cli import finetune, train_lm
from avhubert_ami.errors import PreparationError
from avhubert_ami.prep.runtime.locking import LOCK_NAME
from avhubert_ami.training import run
from avhubert_ami.training.flags import parse_args
from tests.support import REPO
from tests.support.processes import lock_held_by_another_process, quiet_env
from tests.support.training import guide_args, guide_cmd, tiny_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("lock_data"))


def test_the_guide_refuses_a_folder_another_run_writes_to(tmp_path, data, cli_error):
    out = tmp_path / "run"
    out.mkdir()
    with lock_held_by_another_process(out) as pid:
        rc, line = cli_error(finetune.main, guide_args(out, data, "--max_steps", "1"))
    assert rc == 2
    assert f"another run (pid {pid}) is writing to {out}; let it finish, or pass --wait" in line
    assert not (out / "hydra_train.log").exists() and not (out / "checkpoints").exists()


def test_lm_training_refuses_a_folder_another_run_writes_to(tmp_path, data, cli_error):
    out = tmp_path / "lm"
    out.mkdir()
    argv = ["--manifest_dir", str(data), "--output_dir", str(out), "--max_update", "1"]
    with lock_held_by_another_process(out) as pid:
        rc, line = cli_error(train_lm.main, argv)
    assert rc == 2
    assert f"another run (pid {pid}) is writing to {out}" in line
    assert not (out / "data-bin").exists()


def test_a_killed_runs_lock_is_taken_over_and_held_for_the_session(tmp_path, data):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text("999999\n")  # what a killed run leaves: the file, no process holding it
    with run.session(parse_args(guide_args(out, data, "--max_steps", "1"))):
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
        with pytest.raises(PreparationError, match=f"another run \\(pid {os.getpid()}\\)"):
            with run.session(parse_args(guide_args(out, data, "--max_steps", "1"))):
                pass
    assert not (out / LOCK_NAME).exists()


def _children(pid: int):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
def test_the_lock_is_held_while_fairseq_trains_and_a_kill_stops_both(tmp_path, data):
    out = tmp_path / "run"
    first = subprocess.Popen(
        guide_cmd(out, data, "--max_steps", "500", "--override", "lr_scheduler.decay_steps=3"),
        cwd=REPO,
        env=quiet_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, log = time.monotonic() + 400, out / "hydra_train.log"
        while "num_updates" not in (log.read_text() if log.is_file() else ""):
            assert first.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(1)
        trainers = _children(first.pid)
        assert trainers, "no trainer process"
        assert (out / LOCK_NAME).read_text().strip() == str(first.pid)
        second = subprocess.run(
            guide_cmd(out, data, "--max_steps", "1"), cwd=REPO, env=quiet_env(), capture_output=True, text=True
        )
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"another run (pid {first.pid}) is writing to {out}" in second.stderr
        first.send_signal(signal.SIGKILL)
        first.wait()
        deadline = time.monotonic() + 30
        while any(_alive(t) for t in trainers):  # the trainers die with the command that started them
            assert time.monotonic() < deadline, "a trainer outlived its killed command"
            time.sleep(0.5)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    third = subprocess.run(
        guide_cmd(out, data, "--max_steps", "1"), cwd=REPO, env=quiet_env(), capture_output=True, text=True
    )
    assert third.returncode == 0, third.stderr[-3000:]  # the dead run's lock taken over; nothing left to train
