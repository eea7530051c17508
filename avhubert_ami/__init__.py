"""avhubert-ami: a fairseq ``--user-dir`` plugin for AV-HuBERT fine-tuning on AMI.

Importing this package registers its fairseq components (task, models, criteria, scorers) and installs
its fairseq compatibility shims (:mod:`avhubert_ami.compat`, the one place that changes fairseq's behaviour),
so ``--user-dir /path/to/avhubert_ami`` (or ``common.user_dir=...``) makes them
available to ``fairseq-train``, ``fairseq-hydra-train`` and ``fairseq-generate``.

The preprocessing CLIs (package ``preprocess``) need only ``avhubert_ami.data`` and start in a
process without fairseq: there the package skips fairseq (importing it takes seconds, longer than
cropping a short clip) and registers its components the moment anything imports fairseq. fairseq's
``--user-dir`` loader skips a package already in ``sys.modules``, so registration may not depend on it.
"""

__version__ = "0.1.0"

import importlib
import importlib.abc
import sys

_COMPONENTS = ("data", "tasks", "models", "scorers", "criterions")


def _register() -> None:
    """Import the fairseq components (their import registers them), then install the fairseq shims
    (:func:`avhubert_ami.compat.install`: task config filter, safe-loading allowlist, checkpoint files)."""
    for name in _COMPONENTS:
        importlib.import_module(f"{__name__}.{name}")
    from avhubert_ami import compat

    compat.install()


def _without_fairseq() -> bool:
    """True when a preprocessing CLI asked for the fairseq-free import and fairseq is not loaded yet."""
    return (
        getattr(sys.modules.get("preprocess"), "AVHUBERT_AMI_WITHOUT_FAIRSEQ", False) and "fairseq" not in sys.modules
    )


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
