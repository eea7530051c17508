"""Checkpoint files survive a full disk; a resume skips a truncated checkpoint_last.pt; a finished run trains no more
(avhubert_ami.checkpoints.fairseq_patches, installed into fairseq by importing avhubert_ami)."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch
from fairseq import checkpoint_utils
from fairseq.dataclass.configs import CheckpointConfig
from omegaconf import OmegaConf

import avhubert_ami  # noqa: F401  (installs the patches)
from avhubert_ami.checkpoints.fairseq_patches import resume_candidate
from avhubert_ami.checkpoints.safe_load import checkpoint_problem
from avhubert_ami.errors import CheckpointReadError
from tests.support import REPO
from tests.support.processes import quiet_env, run
from tests.support.training import guide_cmd, hydra_train_cmd, num_updates, tiny_data, trained_checkpoint


def _save(path, value, mtime=None):
    torch.save({"model": {"w": torch.full((50_000,), float(value))}}, path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _truncate(path):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) * 3 // 4])  # as a disk that filled during the copy left it


def test_copy_onto_a_full_disk_leaves_the_old_file_whole(tmp_path):
    """fairseq's save_checkpoint copies checkpoint_N.pt to checkpoint_last.pt with PathManager.copy; a write limit
    (RLIMIT_FSIZE, standing in for a full disk) makes that copy fail half-way."""
    src, dst = _save(tmp_path / "checkpoint2.pt", 2), _save(tmp_path / "checkpoint_last.pt", 1)
    old = dst.read_bytes()
    script = textwrap.dedent(f"""
        import resource, signal, sys
        import avhubert_ami
        from fairseq.file_io import PathManager
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, resource.RLIM_INFINITY))
        try:
            PathManager.copy({str(src)!r}, {str(dst)!r}, overwrite=True)
        except OSError as e:
            print("copy failed:", e.strerror)
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=quiet_env(), cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "copy failed" in p.stdout
    assert dst.read_bytes() == old and checkpoint_problem(str(dst)) is None
    assert sorted(os.listdir(tmp_path)) == ["checkpoint2.pt", "checkpoint_last.pt"]  # no temporary left behind


def test_copy_keeps_contents_and_mode(tmp_path):
    from fairseq.file_io import PathManager

    src = _save(tmp_path / "a.pt", 3)
    os.chmod(src, 0o644)
    assert PathManager.copy(str(src), str(tmp_path / "b.pt"), overwrite=True)
    assert (tmp_path / "b.pt").read_bytes() == src.read_bytes()
    assert (tmp_path / "b.pt").stat().st_mode & 0o777 == 0o644


def test_checkpoint_problem_finds_truncation_and_garbage(tmp_path):
    good = _save(tmp_path / "good.pt", 1)
    assert checkpoint_problem(str(good)) is None
    _truncate(_save(tmp_path / "cut.pt", 1))
    assert "truncated" in checkpoint_problem(str(tmp_path / "cut.pt"))
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "not a torch checkpoint" in checkpoint_problem(str(tmp_path / "empty.pt"))


class _FakeTrainer:
    """What fairseq's checkpoint_utils.load_checkpoint calls on a trainer."""

    checkpoint_suffix = ""
    task = object()

    def __init__(self, num_updates=0, max_update=0, max_epoch=0):
        self.loaded, self.num_updates = [], num_updates
        self.cfg = SimpleNamespace(optimization=SimpleNamespace(max_update=max_update, max_epoch=max_epoch))

    def load_checkpoint(self, path, *args, **kwargs):
        self.loaded.append(path)
        if not os.path.exists(path):
            return None
        return {"train_iterator": {"epoch": 3, "iterations_in_epoch": 0}}

    def get_num_updates(self):
        return self.num_updates

    def get_train_iterator(self, epoch, **kwargs):
        return SimpleNamespace(epoch=epoch, next_epoch_idx=epoch, load_state_dict=lambda state: None)

    def lr_step(self, epoch):
        pass


def _checkpoint_cfg(save_dir):
    return OmegaConf.structured(CheckpointConfig(save_dir=str(save_dir)))


def test_resume_skips_a_truncated_checkpoint_last(tmp_path, caplog):
    _save(tmp_path / "checkpoint1.pt", 1, mtime=1000)
    _save(tmp_path / "checkpoint_best.pt", 1, mtime=1000)
    _save(tmp_path / "checkpoint2.pt", 2, mtime=2000)
    _truncate(_save(tmp_path / "checkpoint_last.pt", 2, mtime=2000))
    assert resume_candidate(str(tmp_path))[0] == str(tmp_path / "checkpoint2.pt")
    trainer = _FakeTrainer()
    checkpoint_utils.load_checkpoint(_checkpoint_cfg(tmp_path), trainer)
    assert trainer.loaded == [str(tmp_path / "checkpoint2.pt")]
    assert "checkpoint_last.pt is truncated" in caplog.text and "resuming from" in caplog.text
    _truncate(tmp_path / "checkpoint2.pt")  # the next newest intact one
    trainer = _FakeTrainer()
    checkpoint_utils.load_checkpoint(_checkpoint_cfg(tmp_path), trainer)
    assert trainer.loaded[0] in (str(tmp_path / "checkpoint1.pt"), str(tmp_path / "checkpoint_best.pt"))


def test_resume_with_nothing_intact_says_so(tmp_path):
    _truncate(_save(tmp_path / "checkpoint_last.pt", 2))
    with pytest.raises(CheckpointReadError, match="checkpoint_last.pt is truncated.*no intact"):
        checkpoint_utils.load_checkpoint(_checkpoint_cfg(tmp_path), _FakeTrainer())


def test_intact_checkpoint_last_and_first_launch_are_unchanged(tmp_path):
    trainer = _FakeTrainer()
    checkpoint_utils.load_checkpoint(_checkpoint_cfg(tmp_path), trainer)  # first launch: nothing there
    assert trainer.loaded == [str(tmp_path / "checkpoint_last.pt")]
    _save(tmp_path / "checkpoint_last.pt", 1)
    trainer = _FakeTrainer()
    checkpoint_utils.load_checkpoint(_checkpoint_cfg(tmp_path), trainer)
    assert trainer.loaded == [str(tmp_path / "checkpoint_last.pt")]


def test_truncated_file_is_named_when_loaded(tmp_path):
    _truncate(_save(tmp_path / "checkpoint_best.pt", 1))
    with pytest.raises(CheckpointReadError, match="checkpoint_best.pt: unreadable checkpoint, truncated"):
        checkpoint_utils.load_checkpoint_to_cpu(str(tmp_path / "checkpoint_best.pt"))


@pytest.mark.parametrize(
    "updates,max_update,max_epoch,finished",
    [
        (3, 3, 0, True),
        (3, 5, 0, False),
        (0, 0, 2, True),
        (0, 0, 3, False),
    ],
)
def test_finished_run_stops_before_training(tmp_path, updates, max_update, max_epoch, finished, caplog):
    caplog.set_level(logging.INFO)
    _save(tmp_path / "checkpoint_last.pt", 1)
    trainer = _FakeTrainer(updates, max_update, max_epoch)  # the fake restores epoch 3 (2 epochs done)
    if finished:
        with pytest.raises(SystemExit) as stop:
            checkpoint_utils.load_checkpoint(_checkpoint_cfg(tmp_path), trainer)
        assert stop.value.code == 0 and "training already finished" in caplog.text
    else:
        checkpoint_utils.load_checkpoint(_checkpoint_cfg(tmp_path), trainer)


@pytest.mark.slow
def test_fairseq_hydra_train_resumes_past_a_truncated_checkpoint_last(tmp_path_factory, tmp_path):
    trained = trained_checkpoint(tmp_path_factory)  # 4 updates, 2 per epoch: checkpoint1.pt, checkpoint2.pt
    run_dir = tmp_path / "run"
    shutil.copytree(trained / "checkpoints", run_dir / "checkpoints")
    last = run_dir / "checkpoints" / "checkpoint_last.pt"
    _truncate(last)
    p = run(hydra_train_cmd(trained.parent / "data", run_dir, ["optimization.max_update=6"]))
    log = p.stdout + p.stderr
    assert "checkpoint_last.pt is truncated" in log and "resuming from" in log
    loaded = re.search(r"Loaded checkpoint (\S+) \(epoch 3 @ 4 updates\)", log)
    assert loaded and "checkpoint_last" not in loaded.group(1), log[-3000:]
    assert num_updates(last) == 6 and checkpoint_problem(str(last)) is None


@pytest.mark.slow
def test_finetune_rerun_of_a_finished_run_trains_no_more_but_evaluates(tmp_path_factory, tmp_path):
    data = tiny_data(tmp_path_factory.mktemp("rerun_data"))
    out = tmp_path / "run"
    flags = ["--evaluation_strategy", "no", "--override", "lr_scheduler.decay_steps=3", "--max_steps", "3"]
    cmd = guide_cmd(out, data, *flags)
    first = subprocess.run(cmd, capture_output=True, text=True, env=quiet_env(), timeout=400)
    assert first.returncode == 0, first.stderr[-3000:]
    last = out / "checkpoints" / "checkpoint_last.pt"
    before = last.stat().st_mtime_ns
    again = subprocess.run(
        cmd + ["--do_eval", "--generation_num_beams", "1"], capture_output=True, text=True, env=quiet_env(), timeout=400
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "training already finished (3 updates reached optimization.max_update=3" in again.stdout + again.stderr
    assert num_updates(last) == 3 and last.stat().st_mtime_ns == before
    assert json.loads((out / "eval_results.json").read_text())["audio_video"]["n_utterances"] == 3
