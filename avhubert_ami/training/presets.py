"""Where the installed package keeps its hydra presets and its ``--user-dir`` folder.

The presets are package data (``avhubert_ami/conf/{finetune,lm}/*.yaml``), so a non-editable install or a
wheel carries them; the repository's top-level ``conf`` is a relative symlink to ``avhubert_ami/conf`` for
``fairseq-hydra-train --config-dir conf/finetune`` users (one copy of each file). Paths are plain files on
disk (not ``importlib.resources`` handles) because hydra's ``--config-dir`` needs a real folder.
"""

from pathlib import Path

#: The plugin folder: fairseq's ``--user-dir`` / ``common.user_dir``.
USER_DIR = Path(__file__).resolve().parent.parent
#: ``fairseq-hydra-train --config-dir`` of the fine-tuning presets (tiny_cpu, base_ami, large_ami).
FINETUNE_CONF = USER_DIR / "conf" / "finetune"
#: ``--config-dir`` of the language-model presets of ``avhubert-train-lm`` (tiny, base).
LM_CONF = USER_DIR / "conf" / "lm"


def load_finetune_preset(name: str):
    """The fine-tuning preset ``name`` (``conf/finetune/<name>.yaml``) as an OmegaConf ``DictConfig``."""
    from omegaconf import OmegaConf

    return OmegaConf.load(FINETUNE_CONF / f"{name}.yaml")
