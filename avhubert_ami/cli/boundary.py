"""The one error boundary and reporting of every command line: parsers, logging, exit statuses.

Every console ``main()`` runs its work through :func:`run_main`: a user error ends the program with one line
``PROG: error: MESSAGE`` on stderr and exit status 2 (argparse's convention for a bad flag), a failure of the work
with one line and exit status 1 (:func:`avhubert_ami.errors.exit_status` says which is which); anything else is a
bug and keeps its traceback. ``AVHUBERT_AMI_TRACEBACK=1`` prints the traceback of a reported error too (for bug
reports). Nothing here imports fairseq or torch: ``--help`` and a bad flag answer at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Optional, Sequence

from avhubert_ami.argparsing import HelpFormatter, SuggestingParser, command_parser  # noqa: F401 - the commands' parser
from avhubert_ami.errors import EXIT_FAILED, exit_status
from avhubert_ami.files import describe_os_error

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"

#: interrupted by the user (Ctrl-C): the shell's convention, 128 + SIGINT
EXIT_INTERRUPTED = 130


def configure_logging(quiet: bool = False) -> None:
    """The command lines' logging: INFO in the project's format (``quiet``: warnings only, and mediapipe's
    C++ logging kept down). Called by command lines only; a library import configures no logging."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format=LOG_FORMAT)
    if quiet:
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def error_line(prog: str, err: BaseException) -> str:
    """``PROG: error: MESSAGE`` of a reported error (an OSError's file and a full disk's advice included)."""
    if isinstance(err, OSError):
        message = describe_os_error(err)
    else:
        message = str(err).strip() or type(err).__name__
    return f"{prog}: error: {message}"


def run_main(prog: str, body: Callable[[], int]) -> int:
    """Run a command's work and return its exit status: ``body()``'s own, or 2 / 1 with one error line for a user
    error / a failure of the work (:func:`avhubert_ami.errors.exit_status`), 130 on Ctrl-C."""
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - classified below; anything unclassified is re-raised
        status = exit_status(err)
        if status is None:
            raise
        if os.environ.get("AVHUBERT_AMI_TRACEBACK", "").strip().lower() in ("1", "true", "yes"):
            logger.error("traceback", exc_info=err)
        print(error_line(prog, err), file=sys.stderr, flush=True)
        return status


def finish_summary(summary, title: str) -> int:
    """Print a preparation summary (:class:`avhubert_ami.prep.runtime.summary.Summary`); exit status 1 when some
    utterances failed, else 0."""
    print(summary.report(title), flush=True)
    return EXIT_FAILED if summary.failed else 0


def run_preparation(
    parser: argparse.ArgumentParser,
    convert: Callable[[argparse.Namespace], object],
    title: str,
    argv: Optional[Sequence[str]] = None,
) -> int:
    """A preparation command: parse ``argv``, quiet library logging, run ``convert(args)`` and print the summary it
    returns, inside :func:`run_main`."""
    args = parser.parse_args(argv)
    configure_logging(quiet=True)
    return run_main(parser.prog, lambda: finish_summary(convert(args), title))


def flags(args: argparse.Namespace, *names: str) -> dict:
    """``{name: args.name}``: keyword arguments of a library function whose flags bear their names."""
    return {name: getattr(args, name) for name in names}
