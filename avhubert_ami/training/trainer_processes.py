"""The ``fairseq-hydra-train`` processes that ``avhubert-finetune`` and ``avhubert-train-lm`` start, and their errors.

Each trainer is ``python -m avhubert_ami.training.trainer_processes ARGS`` (:func:`hydra_train_command`): fairseq's
own ``fairseq-hydra-train`` command line and training loop, unchanged, under a guard (:func:`main`). A failure with a
known cause -- a full disk, a read-only folder, a checkpoint that cannot be read or is refused, a manifest row that
disagrees with its file, a diverged model -- ends the trainer with exit status 1 (a failed job) or 2 (a user error)
and one line saying what to do (:func:`known_failure`), written to the file that :data:`ERROR_FILE_ENV` names;
:func:`run_trainers` reports that line as the command's one error line, instead of hydra's chained tracebacks.
Anything else is a bug and keeps its traceback.

:func:`run_trainers` starts the trainers so that they die with it (Linux: ``PR_SET_PDEATHSIG``): a killed command
leaves no trainer writing to its output folder after its lock is gone. When one rank fails, the others are stopped
(a dead rank would leave them blocked in a collective).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from avhubert_ami.errors import EXIT_FAILED, EXIT_USAGE, MediaError, UsageError, WorkError
from avhubert_ami.files import FATAL_WRITE_ERRNOS, atomic_write, describe_os_error

logger = logging.getLogger(__name__)

#: environment variable naming the file a trainer writes its one-line error into (``{"status": N, "message": ...}``)
ERROR_FILE_ENV = "AVHUBERT_AMI_ERROR_FILE"
#: how the trainer's command line names it in an error line of its own (run without :func:`run_trainers`)
PROG = "fairseq-hydra-train"


def hydra_train_command(config_dir: Path, config_name: str, overrides: Sequence[str]) -> List[str]:
    """The command line of one trainer process: ``fairseq-hydra-train --config-dir DIR --config-name NAME
    OVERRIDES`` under the guard of :func:`main` (overrides already quoted for hydra:
    :func:`avhubert_ami.training.flags.hydra_str`)."""
    return [
        sys.executable,
        "-m",
        __name__,
        "--config-dir",
        str(config_dir),
        "--config-name",
        config_name,
        *overrides,
    ]


# ---- the parent: start, supervise, report ------------------------------------------------------------------
def _die_with_parent() -> None:  # runs in the child before exec (Linux): a killed driver takes its trainers along
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort on other platforms
        pass


def _wait_all(procs: Sequence[subprocess.Popen]) -> int:
    """Wait for every process; the first non-zero exit status (the others are stopped then), else 0."""
    rc = 0
    try:
        pending = list(procs)
        while pending:
            for p in list(pending):
                try:
                    code = p.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    continue
                pending.remove(p)
                if code != 0 and rc == 0:
                    rc = code
                    for q in pending:
                        q.terminate()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return rc


def _read_report(path: str) -> Optional[Tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        return int(report["status"]), str(report["message"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _exit_description(rc: int) -> str:
    if rc < 0:
        try:
            return f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited with status {rc}"


def run_trainers(cmds: Sequence[Sequence[str]], log: Path) -> None:
    """Run the trainer commands (one process each, their output streaming through) to completion.

    A trainer's one-line report becomes the exception raised here (:class:`UsageError` for status 2, else
    :class:`WorkError`); a trainer that failed without one (a bug: its traceback is above; killed) raises
    :class:`WorkError` naming ``log`` when it was written."""
    with tempfile.TemporaryDirectory(prefix="avhubert_ami_trainers_") as tmp:
        reports = [os.path.join(tmp, f"rank{i}.json") for i in range(len(cmds))]
        base = dict(os.environ, PYTHONUNBUFFERED="1")
        procs = [
            subprocess.Popen(
                list(cmd),
                env={**base, ERROR_FILE_ENV: report},
                preexec_fn=_die_with_parent if os.name == "posix" else None,
            )
            for cmd, report in zip(cmds, reports)
        ]
        rc = _wait_all(procs)
        if rc == 0:
            return
        for path in reports:
            reported = _read_report(path)
            if reported is not None:
                status, message = reported
                raise (UsageError if status == EXIT_USAGE else WorkError)(message)
    where = f" and {log}" if log.is_file() else ""
    raise WorkError(f"fairseq-hydra-train {_exit_description(rc)}: see its messages above{where}")


#: what fairseq logs when ``checkpoint.patience`` validations without improvement stop a run
EARLY_STOP_LINE = "early stop since valid performance"


def log_size(log: Path) -> int:
    """The current size of a log that a trainer appends to (0 when absent): where this run's part will start."""
    try:
        return os.path.getsize(log)
    except OSError:
        return 0


def stopped_early(log: Path, start: int = 0) -> Optional[str]:
    """fairseq's message when its log ``log``, from byte ``start`` on (this run's part: :func:`log_size` before it
    started), says that ``checkpoint.patience`` stopped training; else None."""
    try:
        with open(log, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    at = text.find(EARLY_STOP_LINE)
    return text[at:].splitlines()[0].strip() if at >= 0 else None


# ---- the trainer: fairseq-hydra-train under a guard ----------------------------------------------------------
def _chain(err: BaseException) -> List[BaseException]:
    """``err`` and the exceptions it was raised from or while handling, outermost first."""
    out: List[BaseException] = []
    while err is not None and err not in out:
        out.append(err)
        err = err.__cause__ or err.__context__
    return out


def fatal_write_error(err: BaseException) -> Optional[OSError]:
    """The full disk / exceeded quota / read-only file system behind ``err`` (torch's zip writer wraps it in a
    RuntimeError), if any."""
    for e in _chain(err):
        if isinstance(e, OSError) and e.errno in FATAL_WRITE_ERRNOS:
            return e
    return None


def _resume_note(save_dir: Optional[str]) -> str:
    """What re-running the same command will start from."""
    from avhubert_ami.checkpoints.fairseq_patches import resume_candidate

    path = resume_candidate(save_dir)[0] if save_dir else None
    if path is None:
        return "it starts over (no intact checkpoint was saved yet)"
    return f"it resumes from {path}"


def _message(err: BaseException) -> str:
    """The error's own message; for an error re-raised from a data-loading worker (its message is then a
    traceback) the worker's last line without the exception's class name."""
    text = str(err).strip()
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last and "Error" in last.split(": ", 1)[0] else last
    return text.splitlines()[0] if text else type(err).__name__


def known_failure(err: BaseException, save_dir: Optional[str]) -> Optional[Tuple[int, str]]:
    """``(exit status, one-line message)`` for a training failure with a known cause, None for anything else
    (a bug, whose traceback must not be hidden). ``save_dir``: the run's checkpoint folder."""
    fatal = fatal_write_error(err)
    if fatal is not None:
        where = f" ({fatal.filename})" if getattr(fatal, "filename", None) else ""
        fix = "make the folder writable" if fatal.errno == errno.EROFS else "free space"
        return EXIT_FAILED, (
            f"{os.strerror(fatal.errno)}{where}: training stopped at the first failed write, the checkpoints "
            f"already written are intact; {fix} and re-run the same command: {_resume_note(save_dir)}"
        )
    if isinstance(err, UsageError):
        return EXIT_USAGE, _message(err)
    if isinstance(err, (WorkError, MediaError)):
        return EXIT_FAILED, _message(err)
    if isinstance(err, OSError):
        return EXIT_FAILED, describe_os_error(err)
    if isinstance(err, FloatingPointError):  # fairseq's "Minimum loss scale reached", NaN/Inf gradients
        return EXIT_FAILED, (
            f"training diverged ({_message(err)}): lower the learning rate or resume from an earlier checkpoint"
        )
    return None


def _report(status: int, message: str) -> None:
    path = os.environ.get(ERROR_FILE_ENV)
    if path:
        try:
            with atomic_write(path) as f:
                json.dump({"status": status, "message": message}, f)
            return
        except OSError:
            pass  # the parent then falls back to its own line; ours goes to stderr
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def main() -> None:
    """``python -m avhubert_ami.training.trainer_processes [fairseq-hydra-train arguments]``."""
    # a full disk must not turn every later log record into a "--- Logging error ---" traceback
    logging.raiseExceptions = False
    from fairseq_cli import hydra_train

    train = hydra_train._hydra_main

    def guarded(cfg, **kwargs):
        try:
            return train(cfg, **kwargs)
        except Exception as err:  # noqa: BLE001 - classified; anything unknown is re-raised with its traceback
            try:
                save_dir = str(cfg.checkpoint.save_dir)
            except Exception:  # noqa: BLE001 - a config that cannot say: no resume note
                save_dir = None
            known = known_failure(err, save_dir)
            if known is None:
                raise
            _report(*known)
            raise SystemExit(known[0]) from None

    hydra_train._hydra_main = guarded  # looked up at call time by hydra_main
    hydra_train.cli_main()


if __name__ == "__main__":
    main()
