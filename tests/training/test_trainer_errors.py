"""The trainer processes of avhubert-finetune and avhubert-train-lm report a known failure in one line: a full disk, an
unreadable or refused checkpoint, a manifest that disagrees with its media, a diverged model; the parent turns the
trainer's report into the command's one error line, and says more only where there is more (the log, a signal)."""

from __future__ import annotations

import errno
import os
import sys
import time

import pytest

from avhubert_ami.errors import CheckpointReadError, ManifestError, MediaError, UsageError, WorkError
from avhubert_ami.training.trainer_processes import known_failure, run_trainers


def _raised_while_handling(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit context is the point: torch's zip writer does this
    except BaseException as err:
        return err


def test_full_disk_is_one_line_saying_where_training_resumes(tmp_path):
    import torch

    save = tmp_path / "checkpoints"
    save.mkdir()
    target = str(save / "checkpoint_best.pt")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
    err = _raised_while_handling(RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos"), full)
    status, message = known_failure(err, str(save))
    assert status == 1 and "\n" not in message
    assert message.startswith(f"No space left on device ({target}): training stopped at the first failed write")
    assert "free space and re-run the same command: it starts over" in message  # nothing saved yet
    torch.save({"model": {}}, save / "checkpoint_last.pt")
    assert known_failure(err, str(save))[1].endswith(f"it resumes from {save / 'checkpoint_last.pt'}")
    ro = OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert "make the folder writable" in known_failure(ro, str(save))[1]


@pytest.mark.parametrize(
    "err, status, text",
    [
        (CheckpointReadError("/x/checkpoint_last.pt is not a torch checkpoint (0 bytes)"), 1, "0 bytes"),
        (ManifestError("/d/valid.tsv:3 (u): n_video_frames=9 but /d/u.mkv has 7 frames"), 2, "valid.tsv:3"),
        (MediaError("/d/u.mkv: cannot read video"), 1, "cannot read video"),
        (PermissionError(errno.EACCES, "Permission denied", "/d/u.wav"), 1, "/d/u.wav: Permission denied"),
        (FloatingPointError("Minimum loss scale reached (0.0001)."), 1, "training diverged (Minimum loss scale"),
        (
            ManifestError(  # re-raised from a data-loading worker: its message is the worker's traceback
                "Caught ManifestError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
                '  File "x.py", line 1, in f\navhubert_ami.errors.ManifestError: /d/train.tsv:5 (u): bad count\n'
            ),
            2,
            "/d/train.tsv:5 (u): bad count",
        ),
    ],
)
def test_known_failures_are_one_line_with_their_exit_status(err, status, text):
    got_status, message = known_failure(err, None)
    assert got_status == status and text in message and "\n" not in message
    assert "Traceback" not in message


@pytest.mark.parametrize("err", [KeyError("cfg"), ValueError("a bug"), RuntimeError("size mismatch")])
def test_anything_else_keeps_its_traceback(err):
    assert known_failure(err, None) is None


_REPORT = """
import json, os, sys
json.dump({{"status": {status}, "message": {message!r}}}, open(os.environ["AVHUBERT_AMI_ERROR_FILE"], "w"))
sys.exit({status})
"""


@pytest.mark.parametrize("status, kind", [(2, UsageError), (1, WorkError)])
def test_the_trainers_report_is_the_commands_error(tmp_path, status, kind):
    cmd = [sys.executable, "-c", _REPORT.format(status=status, message="/d/valid.tsv:3 (u): bad count")]
    with pytest.raises(kind) as caught:
        run_trainers([cmd], tmp_path / "hydra_train.log")
    assert str(caught.value) == "/d/valid.tsv:3 (u): bad count"


def test_a_trainer_without_a_report_names_the_log_only_once_written(tmp_path):
    log = tmp_path / "hydra_train.log"
    with pytest.raises(WorkError) as caught:
        run_trainers([[sys.executable, "-c", "raise SystemExit(3)"]], log)
    assert str(caught.value) == "fairseq-hydra-train exited with status 3: see its messages above"
    log.write_text("...")
    with pytest.raises(WorkError, match=f"exited with status 3: see its messages above and {log}$"):
        run_trainers([[sys.executable, "-c", "raise SystemExit(3)"]], log)
    with pytest.raises(WorkError, match="was killed by SIGKILL"):
        run_trainers([[sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]], log)


def test_a_failed_rank_stops_the_others(tmp_path):
    started = time.monotonic()
    cmds = [[sys.executable, "-c", "raise SystemExit(1)"], [sys.executable, "-c", "import time; time.sleep(300)"]]
    with pytest.raises(WorkError, match="exited with status 1"):
        run_trainers(cmds, tmp_path / "hydra_train.log")
    assert time.monotonic() - started < 60


def test_a_checkpoint_write_is_tried_once_and_leaves_nothing_behind(tmp_path, monkeypatch):
    import torch
    from fairseq import checkpoint_utils

    import avhubert_ami

    avhubert_ami.load_plugin()  # installs the checkpoint patches
    target = tmp_path / "checkpoint_last.pt"
    target.write_bytes(b"the previous checkpoint")
    calls = []

    def disk_full(obj, f, *args, **kwargs):
        calls.append(obj)
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError) as caught:
        checkpoint_utils.torch_persistent_save({"model": {}}, str(target))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert len(calls) == 1  # fairseq retried twice more, 2.5 s apart, on a disk that stays full
    assert target.read_bytes() == b"the previous checkpoint"
    assert os.listdir(tmp_path) == ["checkpoint_last.pt"]  # no NAME.pt.tmp left
