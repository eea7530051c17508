"""How the project's command lines report: one log format (:func:`configure_logging`), and a user error ends
the program with one line on stderr and a non-zero exit status (:func:`report_user_error`).

A user error is bad input or an environment the user can fix (a flag, a missing or unreadable file, a folder that
cannot be written, a refused checkpoint, a bad manifest row): its message already says what, where and how to fix,
so a traceback would only bury it. ``AVHUBERT_AMI_TRACEBACK=1`` shows the traceback too (for bug reports).
"""

from __future__ import annotations

import logging
import os
import pickle
import sys

from avhubert_ami.models.checkpoint import CheckpointReadError

logger = logging.getLogger(__name__)

#: Exceptions whose message is the whole story (ValueError covers UsageError, ManifestError and MediaError;
#: pickle.UnpicklingError covers UnsafeCheckpointError).
USER_ERRORS = (ValueError, OSError, pickle.UnpicklingError, CheckpointReadError)

EXIT_USER_ERROR = 2

LOG_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"


def configure_logging(force: bool = False) -> None:
    """INFO-level logging in the project's format (called first thing by every ``main``); ``force`` replaces
    handlers already on the root logger."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, force=force)


def report_user_error(prog: str, err: BaseException) -> int:
    """Print ``PROG: error: MESSAGE`` on stderr; return the exit status for it."""
    if os.environ.get("AVHUBERT_AMI_TRACEBACK", "").strip() in ("1", "true", "yes"):
        logger.error("traceback", exc_info=err)
    message = str(err).strip() or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in message:
        message = f"{err.filename}: {message}"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR
