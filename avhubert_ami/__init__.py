"""avhubert-ami: a fairseq ``--user-dir`` plugin for AV-HuBERT fine-tuning on AMI.

Import-time effects, all of them (this docstring is their one list):

1. **Registration.** Importing this package imports the fairseq components -- ``data``, ``tasks`` (``ami_av``,
   ``av_hubert_pretraining``), ``models``, ``criterions``, ``scoring.scorers``, ``lm.task`` (``ami_av_lm``) -- whose
   import registers them, and installs the fairseq shims of :mod:`avhubert_ami.compat` (the one place that changes
   fairseq's or torch's behaviour: task config filter, safe-loading allowlist, checkpoint files). So
   ``--user-dir /path/to/avhubert_ami`` (or ``common.user_dir=...``) makes them available to ``fairseq-train``,
   ``fairseq-hydra-train`` and ``fairseq-generate``.
2. **Command lines start without fairseq.** In the process of one of this project's command lines (a console
   script of :data:`COMMAND_LINE_SCRIPTS`, ``python -m avhubert_ami.cli.X``, ``python -m preprocess.X``) the
   package skips fairseq (importing it takes seconds, longer than ``--help`` or cropping a short clip): the
   components register the moment anything imports fairseq, and a command line calls :func:`load_plugin` itself
   once its flags are parsed, before any module that imports fairseq. The decision is written to the environment
   (:data:`WITHOUT_FAIRSEQ_ENV`) for the worker processes the command starts. fairseq's ``--user-dir`` loader skips
   a package already in ``sys.modules``, so registration may not depend on it.

Nothing else happens at import: no files are read, and no logging is configured (command lines do that in
:mod:`avhubert_ami.cli.boundary`). Importing fairseq configures the root logger (a module of fairseq calls
``logging.basicConfig(level=DEBUG)``, so every library's debug messages would reach stderr); when this package is
what imports fairseq, the root logger is put back as it was (:func:`_root_logger_kept`). A program that imported
fairseq itself keeps what fairseq did.
"""

__version__ = "0.1.0"

import contextlib
import importlib
import importlib.abc
import logging
import os
import sys

#: modules whose import registers a fairseq component (task, model, criterion, scorer, LM task)
_COMPONENTS = ("data", "tasks", "models", "criterions", "scoring.scorers", "lm.task")
#: ``avhubert_ami.NAME`` attributes served on first use after a fairseq-free import
_LAZY_ATTRIBUTES = ("data", "tasks", "models", "criterions")


@contextlib.contextmanager
def _root_logger_kept():
    """Put the root logger's level and handlers back as they were once the block ends (around an import of fairseq:
    ``fairseq.models.wav2vec.wav2vec2_classification`` calls ``logging.basicConfig(level=logging.DEBUG)``)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def _register() -> None:
    """Import the fairseq components (their import registers them), then install the fairseq shims
    (:func:`avhubert_ami.compat.install`: task config filter, safe-loading allowlist, checkpoint files)."""
    with _root_logger_kept() if "fairseq" not in sys.modules else contextlib.nullcontext():
        for name in _COMPONENTS:
            importlib.import_module(f"{__name__}.{name}")
    from avhubert_ami import compat

    compat.install()


def load_plugin() -> None:
    """Import fairseq and register the plugin's components (idempotent: imports are cached and
    :func:`avhubert_ami.compat.install` checks what it installed): what a command line calls once its flags are
    parsed, before it imports a module that needs fairseq."""
    with _root_logger_kept() if "fairseq" not in sys.modules else contextlib.nullcontext():
        import fairseq  # noqa: F401  (after a fairseq-free start the finder below registers right after this import)

    _register()


#: set to "1" in a command line's environment (by :func:`_without_fairseq`, or by hand): the fairseq-free import,
#: also in the command line's worker processes (a fork server or spawned interpreter runs ``python -c ...``, so only
#: the environment tells it whose worker it is)
WITHOUT_FAIRSEQ_ENV = "AVHUBERT_AMI_WITHOUT_FAIRSEQ"

#: setup.py's console scripts (tests pin the list) and the checkout's guide script: the command lines of this project
COMMAND_LINE_SCRIPTS = frozenset(
    {
        "avhubert-finetune",
        "avhubert-hf-to-manifest",
        "avhubert-ami-corpus",
        "avhubert-mouth-roi",
        "avhubert-tokenizer",
        "avhubert-synth-ami",
        "avhubert-synth-check",
        "avhubert-verify-manifest",
        "avhubert-decode",
        "avhubert-train-lm",
        "avhubert-transcribe",
        "avhubert-transcribe-meeting",
        "finetune_avhubert_ami",
    }
)

#: modules whose ``python -m`` is a command line (``preprocess`` is the checkout's shim package)
_COMMAND_LINE_MODULES = ("avhubert_ami.cli.", "preprocess.")


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


def _is_command_line() -> bool:
    """True in a command line's process: one of its console scripts, ``python -m preprocess.X`` or
    ``python -m avhubert_ami.cli.X``. Not in a library or test process that imports those modules: there
    the plugin registers eagerly, so that a first fairseq import inside one of the plugin's own modules cannot
    start a registration in the middle of that module."""
    return console_script() in COMMAND_LINE_SCRIPTS or _main_module().startswith(_COMMAND_LINE_MODULES)


def _without_fairseq() -> bool:
    """True when this process (or the command line whose worker it is) asked for the fairseq-free import and
    fairseq is not loaded yet; a command line's decision is written to the environment for its workers."""
    if _is_command_line():
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
            with _root_logger_kept():  # this package's finder is what runs fairseq's import
                exec_module(module)
            _register()

        spec.loader.exec_module = exec_then_register
        return spec


def __getattr__(name: str):
    """``avhubert_ami.tasks`` etc. after a fairseq-free import: import on first use."""
    if name in _LAZY_ATTRIBUTES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if _without_fairseq():
    sys.meta_path.insert(0, _RegisterAfterFairseq())
else:
    _register()
