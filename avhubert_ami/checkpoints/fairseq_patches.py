"""Checkpoint files that survive a full disk or a kill, resumes that pick an intact file, clear load errors.

fairseq compatibility patches, installed once when ``avhubert_ami`` is imported (by
:func:`avhubert_ami.compat.install`, with the task's ``setup_task`` filter and the safe-unpickling allowlist), so
they hold for ``fairseq-hydra-train`` / ``fairseq-train`` / ``fairseq-generate`` / ``fairseq-validate`` with
``--user-dir`` as well as for this project's CLIs:

* **atomic copies** -- fairseq's ``save_checkpoint`` writes the first checkpoint file atomically (``.tmp`` then
  rename) but ``PathManager.copy``-s it to the others (``checkpoint_last.pt``, ``checkpoint_best.pt``, ...);
  a disk that filled during that copy left ``checkpoint_last.pt`` truncated. :func:`atomic_copy` replaces the
  copy for local files: copy to a temporary beside the target, fsync, rename (the old file stays whole until
  the new one is complete; on error the temporary is removed and the error raised).
* **one try at writing a checkpoint** -- fairseq's ``torch_persistent_save`` retried a failed ``torch.save`` three
  times, 2.5 s apart, logged a traceback and left its ``NAME.pt.tmp`` behind on a full disk. For local files it is
  :func:`avhubert_ami.files.atomic_write` now (fsync'ed temporary renamed over the file, removed on error): a full
  disk stays full, so the error is raised at once and reported by the trainer's guard
  (:mod:`avhubert_ami.training.trainer_processes`) in one line.
* **verified resume** -- before fairseq restores ``checkpoint_last.pt`` it is checked (:func:`checkpoint_problem`:
  zip directory + CRC of every member). An unreadable one is reported by name and training resumes from the
  newest intact ``checkpoint*.pt`` of the save dir (:func:`resume_candidate`); with none, a clear error. The guide
  CLI runs the same check, plus a safe-unpickling one, before it starts fairseq (:func:`check_resume`).
* **finished runs** -- a resumed run that already reached ``max_update`` or ``max_epoch`` stops with a message
  and exit status 0 before training (fairseq itself would take one more update per re-run).
* **early-stopping patience survives a resume** -- fairseq counts validations without improvement
  (``checkpoint.patience``) in attributes of ``fairseq_cli.train.should_stop_early`` that no checkpoint keeps: a
  killed and resumed run started counting again (and forgot its best value), so it could train up to ``patience``
  validations longer than asked. The count, the best value and its metric are saved in the checkpoint's
  ``extra_state`` and restored whenever fairseq restores its own ``best`` (same metric only).
* **named load errors** -- ``checkpoint_utils.load_checkpoint_to_cpu`` failures name the file: a class refused by
  the safe loader gives :func:`avhubert_ami.checkpoints.safe_load.refusal_message` (file, class, why, opt-in), an
  unreadable file says it is truncated or corrupt; left uncaught (fairseq-generate, fairseq-validate), either --
  like any error of :mod:`avhubert_ami.errors` -- ends the program with that one line (``sys.excepthook``, for
  the plugin's own exception types only) and the exit status of the command lines' boundary.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import re
import sys
from typing import List, Optional, Tuple

from fairseq import checkpoint_utils
from fairseq.file_io import PathManager
from omegaconf import open_dict

from avhubert_ami.checkpoints.safe_load import checkpoint_problem, first_line, refusal_message
from avhubert_ami.errors import (
    CheckpointReadError,
    MediaError,
    UnsafeCheckpointError,
    UsageError,
    WorkError,
    exit_status,
)
from avhubert_ami.files import atomic_copy, atomic_write

logger = logging.getLogger(__name__)

_PATCHED = "_avhubert_ami_patched"


# ---- atomic copies of checkpoint files ---------------------------------------------------------------------
def _install_atomic_copy() -> None:
    original = PathManager.copy
    if getattr(original, _PATCHED, False):
        return

    def copy_file(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
        if PathManager.path_requires_pathmanager(src_path) or PathManager.path_requires_pathmanager(dst_path):
            return original(src_path, dst_path, overwrite=overwrite)  # remote storage: ioPath's own copy
        if os.path.exists(dst_path) and not overwrite:
            return False
        atomic_copy(src_path, dst_path)
        return True

    setattr(copy_file, _PATCHED, True)
    copy_file.__doc__ = atomic_copy.__doc__
    PathManager.copy = staticmethod(copy_file)


def _install_atomic_save() -> None:
    original = checkpoint_utils.torch_persistent_save
    if getattr(original, _PATCHED, False):
        return

    def torch_persistent_save(obj, filename, async_write: bool = False):
        if async_write or not isinstance(filename, str) or PathManager.path_requires_pathmanager(filename):
            return original(obj, filename, async_write=async_write)  # remote storage, asynchronous: fairseq's own
        import torch

        from avhubert_ami.training.trainer_processes import fatal_write_error

        try:
            with atomic_write(filename, "wb") as f:
                torch.save(obj, f)
        except (OSError, RuntimeError) as err:  # torch's zip writer wraps the OSError in a RuntimeError
            fatal = fatal_write_error(err)
            if fatal is None or getattr(fatal, "filename", None):
                raise
            raise OSError(fatal.errno, fatal.strerror, filename) from err  # name the file the write was for

    setattr(torch_persistent_save, _PATCHED, True)
    torch_persistent_save.__doc__ = original.__doc__
    checkpoint_utils.torch_persistent_save = torch_persistent_save


# ---- verification and choice of the file to resume from ---------------------------------------------------
def _checkpoint_files(save_dir: str, suffix: str = "") -> List[str]:
    """``checkpoint*{suffix}.pt`` files of ``save_dir`` other than checkpoint_last, newest first."""
    pattern = re.compile(r"^checkpoint.*" + re.escape(suffix) + r"\.pt$")
    last = f"checkpoint_last{suffix}.pt"
    try:
        names = [n for n in os.listdir(save_dir) if pattern.match(n) and n != last]
    except OSError:
        return []
    paths = [os.path.join(save_dir, n) for n in names if os.path.isfile(os.path.join(save_dir, n))]
    return sorted(paths, key=os.path.getmtime, reverse=True)


def resume_candidate(save_dir: str, suffix: str = "") -> Tuple[Optional[str], Optional[str]]:
    """What a resume in ``save_dir`` should load: ``(path, problem_of_checkpoint_last)``.

    ``checkpoint_last`` when it is intact; else the newest intact ``checkpoint*.pt`` (path None when there is
    none). ``(None, None)`` when there is no ``checkpoint_last`` (a first launch).
    """
    last = os.path.join(save_dir, f"checkpoint_last{suffix}.pt")
    if not os.path.exists(last):
        return None, None
    problem = checkpoint_problem(last)
    if problem is None:
        return last, None
    for path in _checkpoint_files(save_dir, suffix):
        if checkpoint_problem(path) is None:
            return path, problem
    return None, problem


def _nothing_intact(last: str, problem: str, save_dir: str) -> CheckpointReadError:
    return CheckpointReadError(
        f"{last} is {problem} and {save_dir} holds no intact checkpoint*.pt to resume from: move it away to start "
        "training over"
    )


def check_resume(save_dir: str) -> Optional[str]:
    """Pre-flight of a resume in ``save_dir`` (the guide CLI, before it starts fairseq): the checkpoint it will load
    (None on a first launch). Raises :class:`CheckpointReadError` when nothing intact is left and
    :class:`UnsafeCheckpointError` when that file pickles a class outside the allowlist (checked by a memory-mapped
    safe load: no tensor data is read)."""
    import torch

    from avhubert_ami.checkpoints.safe_load import unsafe_pickle_requested

    path, problem = resume_candidate(save_dir)
    if problem is not None and path is None:
        raise _nothing_intact(os.path.join(save_dir, "checkpoint_last.pt"), problem, save_dir)
    if path is not None and not unsafe_pickle_requested():
        with open(path, "rb") as f:
            zipped = f.read(2) == b"PK"
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
        except pickle.UnpicklingError as err:
            raise UnsafeCheckpointError(refusal_message(path, err)) from err
    return path


def _strip_suffix(path: str, suffix: str) -> str:
    # fairseq appends the suffix to a non-default restore_file itself
    return path[: -len(suffix + ".pt")] + ".pt" if suffix else path


def _verified_restore_cfg(cfg, suffix: str):
    """``cfg`` (CheckpointConfig) with ``restore_file`` moved off an unreadable ``checkpoint_last``."""
    if cfg.restore_file != "checkpoint_last.pt":
        return cfg
    path, problem = resume_candidate(cfg.save_dir, suffix)
    if problem is None:
        return cfg
    last = os.path.join(cfg.save_dir, f"checkpoint_last{suffix}.pt")
    if path is None:
        raise _nothing_intact(last, problem, cfg.save_dir)
    logger.warning(
        "%s is %s: resuming from %s, the newest intact checkpoint (the next save replaces %s)",
        last,
        problem,
        path,
        os.path.basename(last),
    )
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.restore_file = _strip_suffix(path, suffix)
        # a resume, not a first launch: fairseq would ignore these anyway while checkpoint_last exists
        cfg.finetune_from_model = None
        if "continue_once" in cfg:
            cfg.continue_once = None
    return cfg


def finished_reason(trainer, epoch_itr) -> Optional[str]:
    """Why a restored run has nothing left to train (max_update or max_epoch reached), else None."""
    opt = trainer.cfg.optimization
    updates = trainer.get_num_updates()
    if (opt.max_update or 0) > 0 and updates >= opt.max_update:
        return f"{updates} updates reached optimization.max_update={opt.max_update}"
    if (opt.max_epoch or 0) > 0 and epoch_itr.next_epoch_idx > opt.max_epoch:
        return f"epoch {epoch_itr.next_epoch_idx - 1} reached optimization.max_epoch={opt.max_epoch}"
    return None


# ---- early-stopping patience across resumes ----------------------------------------------------------------
PATIENCE_KEY = "avhubert_ami_patience"


def _should_stop_early():
    """fairseq's early-stopping function, whose attributes hold the patience state (None outside training)."""
    train = sys.modules.get("fairseq_cli.train")
    return getattr(train, "should_stop_early", None)


def _install_patience_saving() -> None:
    from fairseq.trainer import Trainer

    original = Trainer.save_checkpoint
    if getattr(original, _PATCHED, False):
        return

    def save_checkpoint(self, filename, extra_state):
        stop = _should_stop_early()
        if stop is not None and getattr(stop, "best", None) is not None:
            extra_state = dict(extra_state)
            extra_state[PATIENCE_KEY] = {
                "metric": self.cfg.checkpoint.best_checkpoint_metric,
                "best": float(stop.best),
                "num_runs": int(getattr(stop, "num_runs", 0)),
            }
        return original(self, filename, extra_state)

    setattr(save_checkpoint, _PATCHED, True)
    save_checkpoint.__doc__ = original.__doc__
    Trainer.save_checkpoint = save_checkpoint


def restore_patience(cfg, extra_state: Optional[dict]) -> None:
    """Put a checkpoint's early-stopping state back into ``should_stop_early`` (same metric only)."""
    state = (extra_state or {}).get(PATIENCE_KEY)
    stop = _should_stop_early()
    if not state or stop is None or state.get("metric") != cfg.best_checkpoint_metric:
        return
    stop.best, stop.num_runs = state["best"], state["num_runs"]
    logger.info(
        "early stopping resumes its count: %d validation(s) without a better %s than %s (patience %d)",
        stop.num_runs,
        state["metric"],
        stop.best,
        cfg.patience,
    )


def _install_verified_resume() -> None:
    original = checkpoint_utils.load_checkpoint
    if getattr(original, _PATCHED, False):
        return

    def load_checkpoint(cfg, trainer, **passthrough_args):
        cfg = _verified_restore_cfg(cfg, trainer.checkpoint_suffix or "")
        # fairseq restores its best value only when it resumes a run (not a --finetune-from-model start, not with
        # reset meters/optimizer): the patience state follows exactly that decision
        best_holder = checkpoint_utils.save_checkpoint
        previous_best = best_holder.__dict__.pop("best", None)
        extra_state, epoch_itr = original(cfg, trainer, **passthrough_args)
        if "best" in best_holder.__dict__:
            restore_patience(cfg, extra_state)
        elif previous_best is not None:
            best_holder.best = previous_best
        reason = finished_reason(trainer, epoch_itr) if extra_state is not None else None
        if reason is not None:
            logger.info(
                "training already finished (%s, %s): nothing to train; raise max_update / max_epoch "
                "(--max_steps / --num_train_epochs) to train further",
                reason,
                cfg.save_dir,
            )
            raise SystemExit(0)
        return extra_state, epoch_itr

    setattr(load_checkpoint, _PATCHED, True)
    load_checkpoint.__doc__ = original.__doc__
    checkpoint_utils.load_checkpoint = load_checkpoint


# ---- load errors that name the file -----------------------------------------------------------------------
def _install_named_load_errors() -> None:
    original = checkpoint_utils.load_checkpoint_to_cpu
    if getattr(original, _PATCHED, False):
        return

    def load_checkpoint_to_cpu(path, arg_overrides=None, load_on_all_ranks=False):
        try:
            return original(path, arg_overrides, load_on_all_ranks)
        except (UnsafeCheckpointError, CheckpointReadError):
            raise
        except pickle.UnpicklingError as err:
            raise UnsafeCheckpointError(refusal_message(path, err)) from err
        except (RuntimeError, EOFError) as err:
            problem = checkpoint_problem(path) if os.path.isfile(path) else None
            if problem is None and "PytorchStreamReader" not in str(err):
                raise
            raise CheckpointReadError(
                f"{path}: unreadable checkpoint, {problem or 'corrupt'} ({first_line(err)})"
            ) from err

    setattr(load_checkpoint_to_cpu, _PATCHED, True)
    load_checkpoint_to_cpu.__doc__ = original.__doc__
    checkpoint_utils.load_checkpoint_to_cpu = load_checkpoint_to_cpu


def _install_checkpoint_error_hook() -> None:
    """An error of this plugin's own (:mod:`avhubert_ami.errors`: a refused or unreadable checkpoint, a language model
    on another dictionary, a diverged model) that nobody catches -- in fairseq-generate, fairseq-validate -- ends the
    program in its one-line message and the exit status of :func:`avhubert_ami.errors.exit_status` (2 for a user
    error, 1 for a failure of the work) instead of a traceback; every other exception keeps the previous hook."""
    previous = sys.excepthook
    if getattr(previous, _PATCHED, False):
        return

    def hook(kind, value, tb):
        if isinstance(value, (UsageError, WorkError, MediaError)):
            print(f"{os.path.basename(sys.argv[0]) or 'python'}: error: {value}", file=sys.stderr, flush=True)
            raise SystemExit(exit_status(value))  # the interpreter exits with it (an excepthook may end so)
        previous(kind, value, tb)

    setattr(hook, _PATCHED, True)
    sys.excepthook = hook


def install_fairseq_patches() -> None:
    """Install the patches above (idempotent; :func:`avhubert_ami.compat.install` calls it)."""
    _install_atomic_copy()
    _install_atomic_save()
    _install_patience_saving()
    _install_verified_resume()
    _install_named_load_errors()
    _install_checkpoint_error_hook()
