"""Safe loading of official AV-HuBERT (fairseq) checkpoints on torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True``: only tensors, containers and allowlisted classes.
Official checkpoints also pickle a few plain-data classes (fairseq ``Dictionary``, ``argparse.Namespace``,
omegaconf containers/nodes, ``typing.Any``, ``collections.defaultdict``, numpy scalars, and in
fine-tuned ones the task's sentencepiece tokenizer). Importing
``avhubert_ami`` registers exactly those with ``torch.serialization.add_safe_globals`` (this is the
whole "patch": fairseq's own ``checkpoint_utils.load_checkpoint_to_cpu`` /
``load_model_ensemble_and_task`` then work unchanged, still refusing any other class).

Full (unsafe) unpickling is opt-in only: ``load_checkpoint_state(path, trust_pickle=True)`` or the
environment variable ``AVHUBERT_AMI_UNSAFE_PICKLE=1`` (which also sets torch's
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for fairseq's loaders). Use it only for files you trust.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import os
import pickle
import re
import typing
import zipfile
from typing import Any, Dict, List, Optional, Type

import numpy as np
import omegaconf
import torch
from fairseq.data.dictionary import Dictionary
from omegaconf import DictConfig, ListConfig, OmegaConf

from avhubert_ami.errors import UnsafeCheckpointError

logger = logging.getLogger(__name__)

UNSAFE_ENV = "AVHUBERT_AMI_UNSAFE_PICKLE"


def _numpy_globals() -> List[Any]:
    core = getattr(np, "_core", None) or np.core
    out: List[Any] = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    for name in ("Float64DType", "Float32DType", "Float16DType", "Int64DType", "Int32DType", "BoolDType"):
        cls = getattr(getattr(np, "dtypes", None), name, None)
        if cls is not None:
            out.append(cls)
    return out


def _omegaconf_globals() -> List[Any]:
    nodes = [
        getattr(omegaconf.nodes, name)
        for name in (
            "AnyNode",
            "StringNode",
            "IntegerNode",
            "FloatNode",
            "BooleanNode",
            "BytesNode",
            "PathNode",
            "EnumNode",
        )
        if hasattr(omegaconf.nodes, name)
    ]
    return [DictConfig, ListConfig, omegaconf.base.ContainerMetadata, omegaconf.base.Metadata, *nodes]


def _tokenizer_globals() -> List[Any]:
    """Fine-tuned checkpoints keep the task's sentencepiece tokenizer in ``task_state``.

    ``SentencePieceProcessor.__setstate__`` only parses the serialized model proto (data, no code).
    """
    try:
        import sentencepiece
        from fairseq.data.encoders.sentencepiece_bpe import SentencepieceBPE
    except ImportError:  # sentencepiece missing: such checkpoints cannot be used anyway
        return []
    return [SentencepieceBPE, sentencepiece.SentencePieceProcessor]


def safe_globals() -> List[Any]:
    """The non-tensor classes official checkpoints pickle (the allowlist)."""
    return [
        Dictionary,
        argparse.Namespace,
        typing.Any,
        collections.defaultdict,
        collections.OrderedDict,
        dict,
        list,
        int,
        float,
        str,
        bool,
        tuple,
        set,
        *_omegaconf_globals(),
        *_numpy_globals(),
        *_tokenizer_globals(),
    ]


def unsafe_pickle_requested() -> bool:
    """True when the user opted into full unpickling via ``AVHUBERT_AMI_UNSAFE_PICKLE=1``."""
    return os.environ.get(UNSAFE_ENV, "").strip().lower() in ("1", "true", "yes")


def register_safe_globals() -> None:
    """Allowlist :func:`safe_globals` for every ``torch.load`` (called when avhubert_ami is imported)."""
    torch.serialization.add_safe_globals(safe_globals())
    if unsafe_pickle_requested():
        logger.warning("%s=1: checkpoints are fully unpickled (arbitrary code). Only load files you trust.", UNSAFE_ENV)
        os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"


def refused_class(err: BaseException) -> str:
    """The class (``module.Name``) torch's safe loader refused, from its error text."""
    text = str(err)
    # torch words it "Unsupported global: GLOBAL x.Y was not an allowed global" or "Trying to load unsupported
    # GLOBAL posix.system whose module posix is blocked" depending on its version
    found = re.search(r"GLOBAL ([\w.]+)|(Can only [^\n]*)", text)
    if found:
        return found.group(1) or found.group(2)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    specific = [ln for ln in lines if not ln.startswith(("Weights only load failed", "Check the documentation"))]
    return (specific or lines or [type(err).__name__])[0]


def refusal_message(path: str, err: BaseException) -> str:
    """The one message for a refused checkpoint: file, class, why, and how to opt in for a trusted file."""
    return (
        f"{path}: refused to load: it pickles {refused_class(err)}, which is not on the AV-HuBERT checkpoint "
        f"allowlist (unpickling an unknown class can run arbitrary code). If you trust this file, set "
        f"{UNSAFE_ENV}=1 (or call load_checkpoint_state(..., trust_pickle=True))."
    )


def checkpoint_problem(path: str) -> Optional[str]:
    """None when ``path`` looks like a complete torch checkpoint, else why not (truncated, corrupt, ...).

    torch's zip format is checked fully (central directory + CRC32 of every member: reads the file once, no
    unpickling); a legacy (pre-zip) pickle file cannot be checked cheaply and is accepted.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if head.startswith(b"\x80"):  # legacy torch.save (pickle protocol 2+)
        return None
    if not head.startswith(b"PK"):
        return f"not a torch checkpoint ({size} bytes)"
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"truncated or corrupt ({size} bytes: {err})"
    if bad is not None:
        return f"corrupt: member {bad} fails its CRC check"
    return None


def first_line(err: BaseException) -> str:
    """The first line of an error's message, or its type's name when the message is empty."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def load_checkpoint_state(path: str, trust_pickle: Optional[bool] = None) -> Dict[str, Any]:
    """Load a fairseq checkpoint to CPU; ``cfg`` becomes a DictConfig (as fairseq's loader does).

    Safe by default (allowlist only). ``trust_pickle=True`` (or ``AVHUBERT_AMI_UNSAFE_PICKLE=1``)
    allows arbitrary classes. Raises FileNotFoundError / UnsafeCheckpointError (a pickle.UnpicklingError) naming
    the file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path} (set model.w2v_path to an AV-HuBERT .pt file)")
    trust = unsafe_pickle_requested() if trust_pickle is None else trust_pickle
    try:
        with open(path, "rb") as f:
            state = torch.load(f, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(refusal_message(path, err)) from err
    if state.get("cfg") is not None and not isinstance(state["cfg"], DictConfig):
        state["cfg"] = OmegaConf.create(state["cfg"], flags={"allow_objects": True})
    return state


def to_dataclass(dc_cls: Type, cfg: Any, where: str = "cfg", overrides: Optional[Dict[str, Any]] = None):
    """Instantiate ``dc_cls`` from a checkpoint config, dropping (with a warning) keys it doesn't know.

    ``overrides`` (field -> value) win over the stored values; ``None`` override values are ignored.
    """
    if isinstance(cfg, (DictConfig, ListConfig)):
        try:
            cfg = OmegaConf.to_container(cfg, resolve=True)
        except omegaconf.errors.OmegaConfBaseException:  # dangling ${...} in a legacy cfg
            cfg = OmegaConf.to_container(cfg, resolve=False)
    elif isinstance(cfg, argparse.Namespace):
        cfg = vars(cfg)
    cfg = dict(cfg or {})
    known = {f.name for f in dataclasses.fields(dc_cls)}
    unknown = sorted(k for k in cfg if k not in known and k != "_name")
    if unknown:
        logger.warning("%s: ignoring config keys unknown to %s: %s", where, dc_cls.__name__, ", ".join(unknown))
    values = {k: v for k, v in cfg.items() if k in known}
    for key, val in (overrides or {}).items():
        if val is not None and key in known:
            values[key] = val
    for key, val in values.items():
        if isinstance(val, list) and key == "latent_temp":
            values[key] = tuple(val)
    return dc_cls(**values)
