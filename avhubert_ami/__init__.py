"""avhubert-ami: a fairseq ``--user-dir`` plugin for AV-HuBERT fine-tuning on AMI.

Importing this package registers its fairseq components (task, models, criteria, scorers) and installs
its fairseq compatibility shims (:mod:`avhubert_ami.compat`, the one place that changes fairseq's behaviour),
so ``--user-dir /path/to/avhubert_ami`` (or ``common.user_dir=...``) makes them
available to ``fairseq-train``, ``fairseq-hydra-train`` and ``fairseq-generate``.

The preprocessing command lines (:mod:`avhubert_ami.prep.cli`) need only :mod:`avhubert_ami.prep` and
``avhubert_ami.data`` and start in a process without fairseq: there the package skips fairseq (importing it
takes seconds, longer than cropping a short clip) and registers its components the moment anything imports
fairseq. fairseq's ``--user-dir`` loader skips a package already in ``sys.modules``, so registration may not
depend on it.
"""

__version__ = "0.1.0"

import importlib
import importlib.abc
import os
import sys

_COMPONENTS = ("data", "tasks", "models", "scorers", "criterions")


def _register() -> None:
    """Import the fairseq components (their import registers them), then install the fairseq shims
    (:func:`avhubert_ami.compat.install`: task config filter, safe-loading allowlist, checkpoint files)."""
    for name in _COMPONENTS:
        importlib.import_module(f"{__name__}.{name}")
    from avhubert_ami import compat

    compat.install()


#: set to "1" in a preprocessing command line's environment (by :func:`_without_fairseq`, or by hand): the
#: fairseq-free import, also in the command line's worker processes (a fork server or spawned interpreter runs
#: ``python -c ...``, so only the environment tells it whose worker it is)
WITHOUT_FAIRSEQ_ENV = "AVHUBERT_AMI_WITHOUT_FAIRSEQ"

#: setup.py's console scripts that run a preprocessing command line (tests/test_preprocess_startup.py pins the list)
PREPROCESSING_CONSOLE_SCRIPTS = frozenset(
    {"avhubert-hf-to-manifest", "avhubert-ami-corpus", "avhubert-mouth-roi", "avhubert-tokenizer", "avhubert-synth-ami"}
)

#: modules whose ``python -m`` is a preprocessing command line (``preprocess`` is the checkout's shim package)
_PREPROCESSING_MODULES = ("avhubert_ami.prep.cli.", "preprocess.")


def _main_module() -> str:
    """NAME of ``python [OPTIONS] -m NAME`` ('' for a script, ``-c``, or an interpreter older than 3.10, which
    keeps no ``sys.orig_argv``: there a command line imports fairseq at once, slower but correct)."""
    args = iter(getattr(sys, "orig_argv", [])[1:])
    for arg in args:
        if arg == "-m":
            return next(args, "")
        if arg.startswith("-m"):  # -mNAME
            return arg[2:]
        if arg in ("-X", "-W", "--check-hash-based-pycs"):
            next(args, None)  # the option's value
        elif arg in ("-c", "-") or not arg.startswith("-"):  # the program starts here, without -m
            return ""
    return ""


def console_script() -> str:
    """The name of the console script this process runs (without a Windows ``.exe``), '' when there is none."""
    return os.path.splitext(os.path.basename(sys.argv[0]))[0] if sys.argv else ""


def _is_preprocessing_command_line() -> bool:
    """True in a preprocessing command line's process: one of its console scripts, ``python -m preprocess.X`` or
    ``python -m avhubert_ami.prep.cli.X``. Not in a library or test process that imports those modules: there
    the plugin registers eagerly, so that a first fairseq import inside one of the plugin's own modules cannot
    start a registration in the middle of that module."""
    return console_script() in PREPROCESSING_CONSOLE_SCRIPTS or _main_module().startswith(_PREPROCESSING_MODULES)


def _without_fairseq() -> bool:
    """True when this process (or the command line whose worker it is) asked for the fairseq-free import and
    fairseq is not loaded yet; a command line's decision is written to the environment for its workers."""
    if _is_preprocessing_command_line():
        os.environ[WITHOUT_FAIRSEQ_ENV] = "1"
    return os.environ.get(WITHOUT_FAIRSEQ_ENV) == "1" and "fairseq" not in sys.modules


class _RegisterAfterFairseq(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of the top-level ``fairseq`` package so that, once fairseq
    has been imported, this plugin's components are imported (registered) too."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D102
        if fullname != "fairseq":
            return None
        sys.meta_path.remove(self)  # once, and so the lookup below finds the real spec
        import importlib.util

        spec = importlib.util.find_spec("fairseq")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register()

        spec.loader.exec_module = exec_then_register
        return spec


def __getattr__(name: str):
    """``avhubert_ami.tasks`` etc. after a fairseq-free import: import on first use."""
    if name in _COMPONENTS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if _without_fairseq():
    sys.meta_path.insert(0, _RegisterAfterFairseq())
else:
    _register()
