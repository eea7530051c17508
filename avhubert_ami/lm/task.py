"""Language model for shallow fusion: fairseq's ``language_modeling`` task, and fusion on the recogniser's dictionary.

``ami_av_lm`` is fairseq's ``language_modeling`` with one difference: the dictionary is ``dict.txt`` (the
binarised LM data) or, failing that, a manifest's ``dict.wrd.txt``.

**An LM keeps its own dictionary.** fairseq-generate loads ``--lm-path`` with ``data`` overridden to the recogniser's
manifest folder; built on that folder's dictionary, an LM trained on the same symbols in another order loaded without
complaint and scored the wrong tokens (and one of another size failed with a size-mismatch traceback). The loading
shim of :func:`avhubert_ami.compat.install` (:func:`lm_data_folder`) keeps a language-model checkpoint on its own
dictionary instead -- ``data-bin/dict.txt`` beside the checkpoint (``avhubert-train-lm``'s layout), else the data
folder its task config recorded -- and :func:`fusion_lm` then checks it against the recogniser's, for every fusion
path (``avhubert-decode``, transcription, meetings: :func:`load_lm`; fairseq-generate: the task's generator):

* the same symbols in the same order: the LM as it is;
* every recogniser symbol in the LM, in another order or among more: :class:`RemappedLM` feeds the LM its own ids and
  gathers its scores into the recogniser's order (equal to an LM trained on the recogniser's order; extra LM symbols
  keep their share of the LM's probability mass), with a warning;
* a recogniser symbol missing from the LM: refused (:class:`~avhubert_ami.errors.UsageError`, one line).

:func:`load_lm` is the one way this plugin loads an LM for decoding.
"""

import contextlib
import logging
import os
import types
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from fairseq import utils
from fairseq.data import Dictionary
from fairseq.tasks import register_task
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask

from avhubert_ami.errors import UsageError

logger = logging.getLogger(__name__)

#: dictionary files looked for in the LM task's ``data`` folder, in order
DICT_NAMES = ("dict.txt", "dict.wrd.txt")
#: task names of language-model checkpoints: loaded on their own dictionary whatever ``data`` a caller passes
LM_TASKS = ("ami_av_lm", "language_modeling")
#: where ``avhubert-train-lm`` puts the LM's binarised data (with its ``dict.txt``), beside the checkpoint
LM_DATA_BIN = "data-bin"


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
        path = find_dictionary(utils.split_paths(args.data)[0])
        dictionary = Dictionary.load(path)
        dictionary.source_file = path  # named when the fusion check refuses it
        logger.info("LM dictionary: %d types (%s)", len(dictionary), path)
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


# ---- which dictionary an LM checkpoint loads with ------------------------------------------------------------
def own_dictionary(lm_path: str, task_data: Optional[str]) -> Optional[str]:
    """The LM's own dictionary file: ``data-bin/dict.txt`` beside ``lm_path``, else the dictionary of the data
    folder ``task_data`` its checkpoint recorded; None when neither exists (the LM was moved without its data)."""
    beside = os.path.join(os.path.dirname(os.path.abspath(lm_path)), LM_DATA_BIN, DICT_NAMES[0])
    if os.path.isfile(beside):
        return beside
    if task_data:
        try:
            return find_dictionary(utils.split_paths(str(task_data))[0])
        except FileNotFoundError:
            return None
    return None


def _scored_symbols(model_state: Dict[str, Any]) -> Optional[int]:
    """How many symbols an LM state dict scores (its embedding rows), None when it has no plain embedding."""
    weight = model_state.get("decoder.embed_tokens.weight") if isinstance(model_state, dict) else None
    return int(weight.shape[0]) if weight is not None else None


def lm_data_folder(lm_path: str, state: Dict[str, Any], requested: str) -> str:
    """The ``data`` folder to build the checkpoint ``state`` of ``lm_path`` with, when a caller asks for ``requested``
    (fairseq-generate: the recogniser's manifest folder): an LM's own data folder (:func:`own_dictionary`), so its
    model is built on the dictionary it was trained with; ``requested`` for any other checkpoint.

    An LM whose own dictionary cannot be found falls back to ``requested``: with a warning when the sizes agree (the
    order cannot be checked), refused (:class:`UsageError`) when they differ.
    """
    cfg = state.get("cfg") or {}
    task = cfg.get("task") if hasattr(cfg, "get") else None
    if task is None or task.get("_name") not in LM_TASKS:
        return requested
    own = own_dictionary(lm_path, task.get("data"))
    if own is not None:
        return os.path.dirname(own)
    beside = os.path.join(os.path.dirname(os.path.abspath(lm_path)), LM_DATA_BIN)
    looked = f"neither {os.path.join(beside, DICT_NAMES[0])} nor a dictionary in {task.get('data')}"
    try:
        fallback = find_dictionary(utils.split_paths(requested)[0])
    except FileNotFoundError as err:
        raise UsageError(f"{lm_path}: the language model's dictionary is not found ({looked}) and {err}") from None
    n_lm, n_rec = _scored_symbols(state.get("model")), len(Dictionary.load(fallback))
    if n_lm is not None and n_lm != n_rec:
        raise UsageError(
            f"{lm_path}: the language model scores {n_lm} symbols but the recogniser's dictionary {fallback} has "
            f"{n_rec}, and the LM's own dictionary is not found ({looked}): put the LM's {LM_DATA_BIN}/dict.txt back "
            "beside the checkpoint, or train an LM on the recogniser's manifest directory with avhubert-train-lm"
        )
    logger.warning(
        "%s: the language model's own dictionary is not found (%s): assuming it lists the recogniser's %d symbols "
        "(%s) in the same order, which cannot be checked; keep the LM's %s/ beside the checkpoint",
        lm_path,
        looked,
        n_rec,
        fallback,
        LM_DATA_BIN,
    )
    return requested


# ---- fusion on the recogniser's dictionary ---------------------------------------------------------------------
class RemappedLM(torch.nn.Module):
    """A language model on its own dictionary, seen through the recogniser's: token ids are mapped to the LM's
    before the LM runs and its scores are gathered back into the recogniser's order, so beam search adds them
    token by token as it would an LM trained on the recogniser's dictionary."""

    def __init__(self, lm: torch.nn.Module, to_lm: torch.Tensor, target_symbols: List[str]) -> None:
        super().__init__()
        self.lm = lm
        self.target_symbols = list(target_symbols)
        self.register_buffer("to_lm", to_lm)  # recogniser id -> LM id of the same symbol

    def forward(self, tokens: torch.Tensor, **kwargs):
        return self.lm(self.to_lm[tokens], **kwargs)

    def get_normalized_probs(self, net_output, log_probs: bool, sample=None) -> torch.Tensor:
        """The LM's (log-)probabilities of the recogniser's symbols, in the recogniser's order."""
        scores = self.lm.get_normalized_probs(net_output, log_probs=log_probs, sample=sample)
        return scores.index_select(-1, self.to_lm)


def lm_dictionary(lm: torch.nn.Module) -> Optional[Dictionary]:
    """The dictionary a fairseq language model was built with (None when it does not say)."""
    return getattr(getattr(lm, "decoder", None), "dictionary", None)


def fusion_lm(lm: torch.nn.Module, tgt_dict: Dictionary, lm_path: Optional[str] = None) -> torch.nn.Module:
    """``lm`` ready to be fused with a recogniser on ``tgt_dict`` (see the module docstring): the LM itself, a
    :class:`RemappedLM`, or :class:`UsageError` when a recogniser symbol is missing from the LM's dictionary."""
    if isinstance(lm, RemappedLM):
        if lm.target_symbols == list(tgt_dict.symbols):
            return lm
        lm = lm.lm
    lm_dict = lm_dictionary(lm)
    what = f"the language model {lm_path}" if lm_path else "the language model (--lm-path)"
    if lm_dict is None:
        logger.warning("%s has no dictionary to check against the recogniser's: fused as it is", what)
        return lm
    if list(lm_dict.symbols) == list(tgt_dict.symbols):
        return lm
    source = getattr(lm_dict, "source_file", None)
    ids = {s: i for i, s in enumerate(lm_dict.symbols)}
    missing = [s for s in tgt_dict.symbols if s not in ids]
    if missing:
        shown = ", ".join(repr(s) for s in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise UsageError(
            f"{what}: its dictionary{f' {source}' if source else ''} ({len(lm_dict)} symbols) lacks {len(missing)} "
            f"of the recogniser's {len(tgt_dict)} symbols ({shown}): it was trained with another tokenizer; train the "
            "LM with avhubert-train-lm on the recogniser's manifest directory (its spm.model and dict.wrd.txt)"
        )
    extra = len(lm_dict) - len(tgt_dict)
    logger.warning(
        "%s: its dictionary%s lists the recogniser's %d symbols in another order%s: its scores are mapped by symbol "
        "(the same fusion as an LM on the recogniser's dictionary; a tokenizer trained on other text may still cut "
        "words differently)",
        what,
        f" {source}" if source else "",
        len(tgt_dict),
        f", with {extra} more" if extra else "",
    )
    device = next((p.device for p in lm.parameters()), torch.device("cpu"))
    to_lm = torch.tensor([ids[s] for s in tgt_dict.symbols], dtype=torch.long, device=device)
    return RemappedLM(lm, to_lm, tgt_dict.symbols)


def load_lm(
    lm_path: str, tgt_dict: Dictionary, dict_dir: str, device: Optional[torch.device] = None, fp16: bool = False
) -> torch.nn.Module:
    """Load a language model (an ``avhubert-train-lm`` checkpoint) for fusion with a recogniser on ``tgt_dict``.

    The LM is built on its own dictionary (:func:`lm_data_folder`; ``dict_dir``, the recogniser's manifest folder,
    only when the LM's own cannot be found) and checked against ``tgt_dict`` by :func:`fusion_lm`; it comes back in
    eval mode, on ``device``. A missing file raises ``FileNotFoundError``; a checkpoint that is not a language model,
    or whose dictionary cannot serve the recogniser, :class:`UsageError`.
    """
    from fairseq import checkpoint_utils

    import avhubert_ami

    avhubert_ami.load_plugin()  # registers ami_av_lm (the LM checkpoint's task) and the loading shim
    if not os.path.isfile(lm_path):
        raise FileNotFoundError(f"{lm_path}: language model checkpoint not found (train one with avhubert-train-lm)")
    state = checkpoint_utils.load_checkpoint_to_cpu(lm_path, {"data": dict_dir})
    task_name = (state.get("cfg") or {}).get("task", {}).get("_name")
    if task_name not in LM_TASKS:
        raise UsageError(
            f"{lm_path}: not a language model (its task is {task_name!r}, not one of {', '.join(LM_TASKS)}): pass "
            "the checkpoint_best.pt of avhubert-train-lm"
        )
    models, _cfg, _task = checkpoint_utils.load_model_ensemble_and_task([lm_path], state=state)
    lm = models[0]
    lm.eval()
    if fp16:
        lm.half()
    if device is not None:
        lm.to(device)
    return fusion_lm(lm, tgt_dict, lm_path)
