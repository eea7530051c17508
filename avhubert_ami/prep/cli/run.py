"""What the preprocessing CLIs share: their names and parsers, their error boundary and their reporting.

A :class:`~avhubert_ami.data.errors.PreparationError`, a bad media or manifest file, a full disk or a read-only
folder ends in one ``error: ...`` line and a non-zero exit, never a traceback. ``SystemExit`` is raised here and in
the CLIs' ``main()`` only."""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Dict, List, Optional, TypeVar

from avhubert_ami import PREPROCESSING_CONSOLE_SCRIPTS, console_script
from avhubert_ami.data import manifest as mf
from avhubert_ami.data.errors import MediaError, PreparationError
from avhubert_ami.prep.filesystem import describe_os_error
from avhubert_ami.prep.summary import Summary

T = TypeVar("T")


def prog(name: str) -> str:
    """The command in usage and error lines: the console script's name when one runs (an installed package has
    no ``preprocess``), else the checkout's documented ``python -m preprocess.NAME``."""
    script = console_script()
    return script if script in PREPROCESSING_CONSOLE_SCRIPTS else f"python -m preprocess.{name}"


def command_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The parser of the command line ``name`` (:func:`prog`), its ``--help`` showing ``description`` as laid out."""
    return argparse.ArgumentParser(
        prog=prog(name), description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def flags(args: argparse.Namespace, *names: str) -> Dict[str, Any]:
    """``{name: args.name}``: keyword arguments of a preparation function whose flags bear their names."""
    return {name: getattr(args, name) for name in names}


def run_cli(body: Callable[[], T]) -> T:
    """Run a CLI's ``body`` and return its result: refused preparations (PreparationError), bad input files
    (ManifestError, MediaError) and environment errors (OSError) end in one ``error: ...`` line on stderr
    and exit status 1 instead of a traceback."""
    try:
        return body()
    except OSError as e:
        raise SystemExit(f"error: {describe_os_error(e)}") from None
    except (PreparationError, mf.ManifestError, MediaError) as e:
        raise SystemExit(f"error: {e}") from None


def quiet_logging() -> None:
    """CLI start-up: importing fairseq leaves the root logger at DEBUG (matplotlib/PIL chatter);
    mediapipe's C++ side logs through glog/absl. Keep warnings and the tools' own output."""
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cli_main(
    parser: argparse.ArgumentParser,
    convert: Callable[[argparse.Namespace], Summary],
    title: str,
    argv: Optional[List[str]] = None,
) -> int:
    """Parse ``argv``, quiet library logging, run ``convert(args)`` and print its summary (exit status);
    errors end as :func:`run_cli` says."""
    args = parser.parse_args(argv)
    quiet_logging()
    return run_cli(lambda: finalize_run(convert(args), title))


def finalize_run(summary: Summary, title: str) -> int:
    """Print the summary; exit status 1 when some utterances failed, else 0."""
    print(summary.report(title), flush=True)
    return 1 if summary.failed else 0
