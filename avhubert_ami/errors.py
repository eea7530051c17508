"""The project's exceptions, in one place, and what each means for a command line's exit status.

Library code raises them (never ``SystemExit``); the command lines' one error boundary
(:func:`avhubert_ami.cli.boundary.run_main`) turns them into one line ``PROG: error: MESSAGE`` and an exit status:

* **2, a user error** -- something the user passed or must decide, found before the work starts: a bad flag or
  value, a missing input, a folder made with other options, a manifest that does not fit, a checkpoint that needs
  an explicit opt-in (:class:`UsageError` and its subclasses);
* **1, a failure of the work** -- the job could not be done: a file that cannot be read mid-run, a full disk, a
  corrupt checkpoint, a diverged model (:class:`WorkError`, :class:`MediaError`, ``OSError``).

Messages always say what, where (file, row, flag) and how to fix. No third-party imports here: the command lines
import this module before anything heavy.
"""

from __future__ import annotations

import pickle


class UsageError(ValueError):
    """A bad flag, value or input, or a contradictory combination (reported before any work starts): exit 2."""


class PreparationError(UsageError):
    """Preparing a corpus cannot go on: bad options or input (a missing column, a folder made with other
    options, an unfinished shard, an output folder another run holds)."""


class ManifestError(UsageError):
    """A manifest file (tsv/wrd/dict) is malformed or inconsistent; the message names file and line."""


class UnsafeCheckpointError(pickle.UnpicklingError, UsageError):
    """A checkpoint pickles a class outside the allowlist: loading it needs the user's explicit opt-in."""


class WorkError(RuntimeError):
    """The job failed while it ran (exit 1)."""


class CheckpointReadError(WorkError):
    """A checkpoint file that cannot be read (truncated, corrupt); the message names the file."""


class NonFiniteModelError(WorkError, FloatingPointError):
    """A model produced NaN/inf scores (diverged or corrupt weights); the message names the utterances and the
    checkpoint. A FloatingPointError too, as numeric failures are."""


class MediaError(ValueError):
    """An audio or video file is missing, unreadable or not in the expected format: a failure of the work (exit 1)
    when met mid-run; a ValueError so per-utterance loops that skip bad rows keep catching it."""


#: exit statuses of the command lines
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def exit_status(err: BaseException) -> "int | None":
    """The exit status a command line ends with for ``err``: 2 for a user error, 1 for a failure of the work,
    None for anything else (a bug, whose traceback must not be hidden)."""
    if isinstance(err, (MediaError, WorkError, OSError)):
        return EXIT_FAILED
    if isinstance(err, ValueError):  # UsageError and its kin, and a library's bad-value ValueError
        return EXIT_USAGE
    return None
