"""Language model for shallow fusion: fairseq's ``language_modeling`` task on the recogniser's dictionary.

``ami_av_lm`` is fairseq's ``language_modeling`` with one difference: the dictionary is ``dict.txt`` (the
binarised LM data) or, failing that, the manifest's ``dict.wrd.txt``. fairseq-generate loads ``--lm-path``
with ``data`` overridden to the recogniser's manifest directory, which has ``dict.wrd.txt`` only; a
stock ``language_modeling`` checkpoint would look for ``dict.txt`` there and fail.

:func:`load_lm` is the one way this plugin loads an LM for decoding (``avhubert-decode``, transcription).
"""

import contextlib
import logging
import os
import types
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from fairseq import utils
from fairseq.data import Dictionary
from fairseq.tasks import register_task
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask

logger = logging.getLogger(__name__)

#: dictionary files looked for in the LM task's ``data`` folder, in order
DICT_NAMES = ("dict.txt", "dict.wrd.txt")


def find_dictionary(folder: str) -> str:
    """Path of the LM dictionary in ``folder`` (``dict.txt``, else the manifest's ``dict.wrd.txt``)."""
    for name in DICT_NAMES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{folder}: no {' or '.join(DICT_NAMES)} (the LM's dictionary is the recogniser's "
        "dict.wrd.txt; point task.data at the manifest directory or the LM's data-bin)"
    )


@dataclass
class AMIAVLanguageModelingConfig(LanguageModelingConfig):
    """fairseq's ``language_modeling`` options, with plain defaults where upstream interpolates others.

    fairseq-hydra-train resolves ``${common.seed}``-style interpolations before it imports the plugin, so a
    plugin task's interpolated defaults would reach the task as literal strings.
    """

    seed: int = 1
    batch_size: Optional[int] = None
    batch_size_valid: Optional[int] = None
    dataset_impl: Optional[str] = None
    data_buffer_size: int = 10
    tpu: bool = False
    use_plasma_view: bool = False
    plasma_path: Optional[str] = None


@register_task("ami_av_lm", dataclass=AMIAVLanguageModelingConfig)
class AMIAVLanguageModelingTask(LanguageModelingTask):
    """fairseq ``language_modeling`` whose dictionary may be a manifest directory's ``dict.wrd.txt``."""

    @classmethod
    def setup_dictionary(cls, args, **kwargs):
        if not args.data:
            return None, None
        dictionary = Dictionary.load(find_dictionary(utils.split_paths(args.data)[0]))
        logger.info("LM dictionary: %d types", len(dictionary))
        if args.output_dictionary_size >= 0:
            raise ValueError(
                "ami_av_lm: output_dictionary_size must stay -1 (the LM scores the recogniser's whole dictionary)"
            )
        return dictionary, dictionary

    def load_dataset(self, split: str, epoch: int = 1, combine: bool = False, **kwargs):
        with _numpy_compat_long():
            return super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)


@contextlib.contextmanager
def _numpy_compat_long():
    """fairseq 0.12's TokenBlockDataset (``sample_break_mode=eos``) uses ``np.compat.long``, removed in numpy 2.

    Provide exactly that name while the dataset is built, and only when numpy lacks it.
    """
    if hasattr(np, "compat"):
        yield
        return
    np.compat = types.SimpleNamespace(long=np.int64)
    try:
        yield
    finally:
        del np.compat


def check_same_dictionary(lm_dict: Dictionary, tgt_dict: Dictionary, lm_path: str) -> None:
    """Shallow fusion adds scores token by token: both dictionaries must be the same list of symbols."""
    if lm_dict.symbols != tgt_dict.symbols:
        diff = next(
            (i for i, (a, b) in enumerate(zip(lm_dict.symbols, tgt_dict.symbols)) if a != b),
            min(len(lm_dict), len(tgt_dict)),
        )
        raise ValueError(
            f"{lm_path}: the LM's dictionary ({len(lm_dict)} symbols) differs from the recogniser's "
            f"({len(tgt_dict)}) from index {diff}: train the LM with avhubert-train-lm on the same "
            "manifest directory (its spm.model and dict.wrd.txt)"
        )


def load_lm(
    lm_path: str, tgt_dict: Dictionary, dict_dir: str, device: Optional[torch.device] = None, fp16: bool = False
) -> torch.nn.Module:
    """Load an ``avhubert-train-lm`` checkpoint for fusion with a recogniser whose dictionary is ``tgt_dict``.

    ``dict_dir``: a folder with the recogniser's ``dict.wrd.txt`` (its manifest directory). The LM comes back
    in eval mode, on ``device``, checked to share ``tgt_dict``'s symbols.
    """
    from fairseq import checkpoint_utils

    import avhubert_ami  # noqa: F401  registers ami_av_lm (the LM checkpoint's task)

    if not os.path.isfile(lm_path):
        raise FileNotFoundError(f"{lm_path}: language model checkpoint not found (train one with avhubert-train-lm)")
    models, _cfg, task = checkpoint_utils.load_model_ensemble_and_task([lm_path], arg_overrides={"data": dict_dir})
    lm = models[0]
    check_same_dictionary(task.target_dictionary, tgt_dict, lm_path)
    lm.eval()
    if fp16:
        lm.half()
    if device is not None:
        lm.to(device)
    return lm
