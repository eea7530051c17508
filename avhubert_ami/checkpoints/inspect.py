"""``--model_name_or_path``: what kind of AV-HuBERT checkpoint a file is, and what it fixes (size, fusion, vocab)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from avhubert_ami.errors import UsageError

PRETRAIN_MODELS = ("av_hubert",)
SEQ2SEQ_MODELS = ("av_hubert_seq2seq",)


@dataclass
class CheckpointInfo:
    """Summary of a checkpoint's config (no weights kept)."""

    path: Path
    kind: str  # "pretrain" | "seq2seq"
    model_cfg: Dict[str, Any]
    encoder_layers: int
    encoder_embed_dim: int
    modality_fuse: str
    modalities: List[str]
    vocab_size: Optional[int] = None  # seq2seq: rows of decoder.embed_tokens

    @property
    def preset(self) -> str:
        """Preset matching the encoder size: large_ami (24 layers), base_ami (768-d), else tiny_cpu."""
        if self.encoder_layers >= 24:
            return "large_ami"
        if self.encoder_embed_dim >= 768:
            return "base_ami"
        return "tiny_cpu"


def _cfg_of(state: Dict[str, Any]) -> Dict[str, Any]:
    from omegaconf import OmegaConf

    cfg = state.get("cfg")
    if cfg is None and state.get("args") is not None:
        from fairseq.dataclass.utils import convert_namespace_to_omegaconf

        cfg = convert_namespace_to_omegaconf(state["args"])
    if cfg is None:
        raise UsageError("the checkpoint has no fairseq config ('cfg' or 'args')")
    if not OmegaConf.is_config(cfg):
        cfg = OmegaConf.create(cfg)
    return OmegaConf.to_container(cfg, resolve=False)


def inspect_checkpoint(path: str, flag: str = "--model_name_or_path") -> CheckpointInfo:
    """Load ``path`` safely (avhubert_ami.checkpoints.safe_load) and summarise it; clear error when it is not AV-HuBERT.

    ``flag`` names where the path came from in messages (``"checkpoint"`` when the driver found it itself).
    """
    from avhubert_ami.checkpoints.safe_load import checkpoint_problem, first_line, load_checkpoint_state
    from avhubert_ami.errors import CheckpointReadError, UnsafeCheckpointError

    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise UsageError(f"{flag} {path}: no such file (an AV-HuBERT .pt checkpoint is expected)")
    problem = checkpoint_problem(str(p))
    if problem is not None:  # truncated, corrupt, empty: the file cannot be read (exit 1), whatever it was meant to be
        raise CheckpointReadError(f"{p}: unreadable checkpoint, {problem}")
    try:
        state = load_checkpoint_state(str(p))
    except UnsafeCheckpointError:  # already names the file, the class and the opt-in
        raise
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise UsageError(f"{flag} {p}: cannot be read as a fairseq checkpoint: {first_line(e)}") from e
    cfg = _cfg_of(state)
    model = cfg.get("model") or {}
    name = model.get("_name")
    if name in PRETRAIN_MODELS:
        kind, enc = "pretrain", model
    elif name in SEQ2SEQ_MODELS:
        kind = "seq2seq"
        w2v = model.get("w2v_args") or {}
        enc = (w2v.get("model") if isinstance(w2v, dict) else None) or model
    else:
        raise UsageError(
            f"{flag} {p}: model {name!r} is not an AV-HuBERT checkpoint "
            f"(expected one of {PRETRAIN_MODELS + SEQ2SEQ_MODELS})"
        )
    vocab = None
    emb = state.get("model", {}).get("decoder.embed_tokens.weight")
    if kind == "seq2seq" and emb is not None:
        vocab = int(emb.shape[0])
    return CheckpointInfo(
        path=p,
        kind=kind,
        model_cfg=model,
        encoder_layers=int(enc.get("encoder_layers", 12)),
        encoder_embed_dim=int(enc.get("encoder_embed_dim", 768)),
        modality_fuse=str(enc.get("modality_fuse", "concat")),
        modalities=list((cfg.get("task") or {}).get("modalities") or ["audio", "video"]),
        vocab_size=vocab,
    )


def dictionary_size(data_dir: Path) -> int:
    """Entries of the fairseq Dictionary built from ``data_dir/dict.wrd.txt`` (4 specials included)."""
    from fairseq.data import Dictionary

    return len(Dictionary.load(str(data_dir / "dict.wrd.txt")))
