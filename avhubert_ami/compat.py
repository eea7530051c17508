"""Every change this plugin makes to fairseq or torch behaviour, installed by one call: :func:`install`.

``avhubert_ami/__init__.py`` calls it right after importing the components (registration), so the shims
hold for ``fairseq-hydra-train`` / ``fairseq-train`` / ``fairseq-generate`` / ``fairseq-validate`` with
``--user-dir`` as well as for this project's CLIs. Each is idempotent and touches only what it names:

1. **task config filter** -- ``fairseq.tasks.setup_task`` drops (with a warning) the config keys that this
   plugin's task dataclasses do not define, for this plugin's task names only, so official AV-HuBERT
   checkpoints, whose saved task config carries fields of upstream's code, load
   (:func:`install_setup_task_filter`).
2. **safe-loading allowlist** -- the plain-data classes that official checkpoints pickle are allowlisted for
   torch's ``weights_only`` loader (:func:`avhubert_ami.checkpoints.safe_load.register_safe_globals`); any other
   class is still refused unless ``AVHUBERT_AMI_UNSAFE_PICKLE=1``.
3. **checkpoint files** -- atomic copies, verified resume, finished-run stop, named load errors
   (:func:`avhubert_ami.checkpoints.fairseq_patches.install_fairseq_patches`, described in that module).
"""

from __future__ import annotations

import logging

from fairseq import tasks
from omegaconf import DictConfig

logger = logging.getLogger(__name__)

#: Task names whose configs are filtered: ours and upstream's name, under which official checkpoints load.
FILTERED_TASKS = ("ami_av", "av_hubert_pretraining")

_INSTALLED = "_avhubert_ami"


def install_setup_task_filter() -> None:
    """Wrap ``fairseq.tasks.setup_task`` so that it drops unknown keys of :data:`FILTERED_TASKS` configs."""
    if getattr(tasks.setup_task, _INSTALLED, False):
        return
    original = tasks.setup_task

    def setup_task(cfg, **kwargs):
        name = getattr(cfg, "_name", None)
        if isinstance(cfg, DictConfig) and name in FILTERED_TASKS:
            # looked up at call time: the task module registers its dataclass, which need not be imported yet
            from avhubert_ami.tasks.ami_av import drop_unknown_keys

            cfg = drop_unknown_keys(cfg, tasks.TASK_DATACLASS_REGISTRY[name])
        return original(cfg, **kwargs)

    setattr(setup_task, _INSTALLED, True)
    setup_task.__doc__ = original.__doc__
    tasks.setup_task = setup_task


def install() -> None:
    """Install the shims listed in the module docstring (idempotent)."""
    from avhubert_ami.checkpoints import fairseq_patches
    from avhubert_ami.checkpoints.safe_load import register_safe_globals

    install_setup_task_filter()
    register_safe_globals()
    fairseq_patches.install_fairseq_patches()
