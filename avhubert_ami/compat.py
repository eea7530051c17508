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
4. **language models keep their dictionary** -- a language-model checkpoint loaded with ``data`` overridden
   (fairseq-generate's ``--lm-path``: the recogniser's manifest folder) is built on its own dictionary instead, so
   the fusion check compares two dictionaries, not one with itself
   (:func:`install_lm_dictionary_loading`, :func:`avhubert_ami.lm.task.lm_data_folder`).
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


def install_lm_dictionary_loading() -> None:
    """Wrap ``checkpoint_utils.load_checkpoint_to_cpu``: a ``data`` override of a language-model checkpoint is
    replaced by the LM's own data folder (:func:`avhubert_ami.lm.task.lm_data_folder`); any other checkpoint gets the
    override as before."""
    from argparse import Namespace

    from fairseq import checkpoint_utils
    from fairseq.dataclass.utils import overwrite_args_by_name

    original = checkpoint_utils.load_checkpoint_to_cpu
    if getattr(original, "_avhubert_ami_lm_data", False):
        return

    def load_checkpoint_to_cpu(path, arg_overrides=None, load_on_all_ranks=False):
        if not arg_overrides or "data" not in arg_overrides:
            return original(path, arg_overrides, load_on_all_ranks)
        from avhubert_ami.lm.task import lm_data_folder

        rest = {k: v for k, v in arg_overrides.items() if k != "data"}
        state = original(path, rest, load_on_all_ranks)
        data = {"data": lm_data_folder(path, state, arg_overrides["data"])}
        if isinstance(state.get("args"), Namespace):  # a legacy checkpoint: fairseq builds its config from args
            state["args"].data = data["data"]
        if state.get("cfg") is not None:
            overwrite_args_by_name(state["cfg"], data)
        return state

    load_checkpoint_to_cpu._avhubert_ami_lm_data = True
    load_checkpoint_to_cpu._avhubert_ami_patched = True  # the mark of fairseq_patches' wrappers, which this wraps
    load_checkpoint_to_cpu.__doc__ = original.__doc__
    checkpoint_utils.load_checkpoint_to_cpu = load_checkpoint_to_cpu


def install() -> None:
    """Install the shims listed in the module docstring (idempotent)."""
    from avhubert_ami.checkpoints import fairseq_patches
    from avhubert_ami.checkpoints.safe_load import register_safe_globals

    install_setup_task_filter()
    register_safe_globals()
    fairseq_patches.install_fairseq_patches()
    install_lm_dictionary_loading()
