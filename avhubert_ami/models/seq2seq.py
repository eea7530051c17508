"""Fairseq model ``av_hubert_seq2seq``: AV-HuBERT encoder + transformer decoder (upstream hubert_asr.py).

The encoder comes from (in this order) ``w2v_args`` stored in the config (a saved fine-tuned
checkpoint), an official pretrained checkpoint at ``w2v_path`` (weights loaded through
:mod:`avhubert_ami.checkpoints.safe_load`), or - our extension - the encoder fields of this config
when ``w2v_path`` is empty (tiny CPU preset, tests). Freezing: ``freeze_finetune_updates`` (no
encoder gradients for the first N updates, as upstream) and ``freeze_encoder`` (whole run, encoder
in eval mode). ``ctc_head`` adds a linear CTC projection on the encoder output (hybrid CTC/attention,
our extension; state-dict keys ``ctc_proj.*`` beside the official ``encoder.*``/``decoder.*``).
"""

import contextlib
import logging
from argparse import Namespace
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.models import FairseqEncoder, FairseqEncoderDecoderModel, register_model
from omegaconf import II, OmegaConf

from avhubert_ami.checkpoints.safe_load import load_checkpoint_state, to_dataclass
from avhubert_ami.models.attention import IMPLS
from avhubert_ami.models.decoder import Embedding, TransformerDecoder
from avhubert_ami.models.encoder import MASKING_DISTRIBUTION_CHOICES, AVHubertConfig, AVHubertModel
from avhubert_ami.models.speed import apply_speed_options

logger = logging.getLogger(__name__)

ATTENTION_IMPL_CHOICES = ChoiceEnum(list(IMPLS))


@dataclass
class AVHubertSeq2SeqConfig(FairseqDataclass):
    """Upstream ``AVHubertSeq2SeqConfig`` fields, then our extensions."""

    w2v_path: Optional[str] = field(
        default=None, metadata={"help": "pretrained AV-HuBERT checkpoint (empty: build from the encoder_* fields)"}
    )
    no_pretrained_weights: bool = field(default=False, metadata={"help": "if true, does not load pretrained weights"})
    dropout_input: float = field(default=0.0, metadata={"help": "dropout to apply to the input (after feat extr)"})
    final_dropout: float = field(
        default=0.0, metadata={"help": "dropout after transformer and before final projection"}
    )
    dropout: float = field(default=0.0, metadata={"help": "dropout probability inside hubert model"})
    attention_dropout: float = field(default=0.0, metadata={"help": "attention dropout inside hubert model"})
    activation_dropout: float = field(default=0.0, metadata={"help": "FFN activation dropout inside hubert model"})
    apply_mask: bool = field(
        default=False, metadata={"help": "apply masking during fine-tuning (unused by seq2seq, as upstream)"}
    )
    mask_length: int = field(default=10, metadata={"help": "repeat the mask indices multiple times"})
    mask_prob: float = field(default=0.5, metadata={"help": "probability of replacing a token with mask"})
    mask_selection: MASKING_DISTRIBUTION_CHOICES = field(default="static", metadata={"help": "how to choose masks"})
    mask_other: float = field(default=0, metadata={"help": "secondary mask argument"})
    no_mask_overlap: bool = field(default=False, metadata={"help": "whether to allow masks to overlap"})
    mask_channel_length: int = field(default=10, metadata={"help": "length of the mask for features (channels)"})
    mask_channel_prob: float = field(default=0.0, metadata={"help": "probability of replacing a feature with 0"})
    mask_channel_selection: MASKING_DISTRIBUTION_CHOICES = field(
        default="static", metadata={"help": "channel mask length"}
    )
    mask_channel_other: float = field(default=0, metadata={"help": "secondary channel mask argument"})
    no_mask_channel_overlap: bool = field(default=False, metadata={"help": "whether to allow channel masks to overlap"})
    freeze_finetune_updates: int = field(default=0, metadata={"help": "dont finetune hubert for this many updates"})
    feature_grad_mult: float = field(default=0.0, metadata={"help": "reset feature grad mult in hubert to this"})
    layerdrop: float = field(default=0.0, metadata={"help": "probability of dropping a layer in hubert"})
    normalize: bool = II("task.normalize")
    data: str = II("task.data")
    w2v_args: Any = None
    decoder_embed_dim: int = field(default=768, metadata={"help": "decoder embedding dimension"})
    decoder_ffn_embed_dim: int = field(default=3072, metadata={"help": "decoder embedding dimension for FFN"})
    decoder_layers: int = field(default=6, metadata={"help": "num of decoder layers"})
    decoder_layerdrop: float = field(default=0.0, metadata={"help": "decoder layerdrop chance"})
    decoder_attention_heads: int = field(default=4, metadata={"help": "num decoder attention heads"})
    decoder_learned_pos: bool = field(
        default=False, metadata={"help": "use learned positional embeddings in the decoder"}
    )
    decoder_normalize_before: bool = field(
        default=False, metadata={"help": "apply layernorm before each decoder block"}
    )
    no_token_positional_embeddings: bool = field(default=False, metadata={"help": "disable positional embeddings"})
    decoder_dropout: float = field(default=0.0, metadata={"help": "dropout probability in the decoder"})
    decoder_attention_dropout: float = field(default=0.0, metadata={"help": "attention dropout in the decoder"})
    decoder_activation_dropout: float = field(default=0.0, metadata={"help": "FFN activation dropout in the decoder"})
    max_target_positions: int = field(default=2048, metadata={"help": "max target positions"})
    share_decoder_input_output_embed: bool = field(
        default=False, metadata={"help": "share decoder input and output embeddings"}
    )
    no_scale_embedding: bool = field(default=True, metadata={"help": "do not scale token embeddings by sqrt(dim)"})

    # --- our extensions ---
    freeze_encoder: bool = field(
        default=False, metadata={"help": "keep the whole encoder frozen (and in eval mode) for the entire run"}
    )
    ctc_head: bool = field(
        default=False, metadata={"help": "add a CTC projection on the encoder output (hybrid CTC/attention)"}
    )
    audio_drop_prob: float = field(default=0.0, metadata={"help": "per-sample prob. of dropping audio (training)"})
    visual_drop_prob: float = field(default=0.0, metadata={"help": "per-sample prob. of dropping video (training)"})
    # encoder architecture, used only when there is no w2v_path/w2v_args (defaults: base_vox_iter5)
    encoder_layers: int = field(default=12, metadata={"help": "[no checkpoint] encoder transformer layers"})
    encoder_embed_dim: int = field(default=768, metadata={"help": "[no checkpoint] encoder dim (= decoder_embed_dim)"})
    encoder_ffn_embed_dim: int = field(default=3072, metadata={"help": "[no checkpoint] encoder FFN dim"})
    encoder_attention_heads: int = field(default=12, metadata={"help": "[no checkpoint] encoder attention heads"})
    encoder_activation_fn: str = field(default="gelu", metadata={"help": "[no checkpoint] encoder activation"})
    layer_norm_first: bool = field(default=True, metadata={"help": "[no checkpoint] pre-LN encoder layers"})
    final_dim: int = field(default=256, metadata={"help": "[no checkpoint] pretraining projection dim"})
    untie_final_proj: bool = field(default=True, metadata={"help": "[no checkpoint] per-target projections"})
    conv_pos: int = field(default=128, metadata={"help": "[no checkpoint] conv positional embedding width"})
    conv_pos_groups: int = field(default=16, metadata={"help": "[no checkpoint] conv positional embedding groups"})
    modality_fuse: str = field(default="concat", metadata={"help": "[no checkpoint] concat or add"})
    audio_feat_dim: int = field(default=104, metadata={"help": "[no checkpoint] audio feature dim"})
    sub_encoder_layers: int = field(default=0, metadata={"help": "[no checkpoint] per-modality transformer layers"})
    resnet_relu_type: str = field(default="prelu", metadata={"help": "[no checkpoint] relu or prelu"})
    resnet_width: int = field(default=64, metadata={"help": "[no checkpoint] ResNet base width"})
    resnet_blocks: List[int] = field(
        default_factory=lambda: [2, 2, 2, 2], metadata={"help": "[no checkpoint] ResNet blocks"}
    )
    masking_type: str = field(default="input", metadata={"help": "[no checkpoint] input or feature masking"})
    # speed options (issue 23, avhubert_ami.models.speed): how the step runs, not what it computes; off = upstream's
    attention_impl: ATTENTION_IMPL_CHOICES = field(
        default="sdpa",
        metadata={
            "help": "attention kernels: sdpa (fairseq's own path), eager (fairseq's bmm/softmax), bool_sdpa (one "
            "q/k/v projection and SDPA with a boolean key-padding mask, also for cross-attention)"
        },
    )
    video_channels_last: bool = field(
        default=False, metadata={"help": "run the video ResNet on channels-last activations (GPU tensor cores)"}
    )
    cudnn_benchmark: bool = field(
        default=False,
        metadata={"help": "cuDNN autotuning for the process (pays off with few batch shapes: task.pad_to_bucket)"},
    )
    compile_layers: bool = field(
        default=False,
        metadata={"help": "torch.compile the encoder and decoder layers while training (skipped where unavailable)"},
    )
    pretrain_label_classes: List[int] = field(
        default_factory=list,
        metadata={
            "help": "[no checkpoint] sizes of pretraining label dicts whose (unused) embeddings the encoder "
            "carries; official checkpoints: [54]. Loading a checkpoint adapts this automatically."
        },
    )


# seq2seq field -> encoder field, applied when the encoder is built (upstream's arg_overrides)
_ENCODER_OVERRIDES = {
    "dropout": "dropout",
    "activation_dropout": "activation_dropout",
    "dropout_input": "dropout_input",
    "attention_dropout": "attention_dropout",
    "layerdrop": "encoder_layerdrop",
    "feature_grad_mult": "feature_grad_mult",
}
_SCRATCH_FIELDS = (
    "encoder_layers",
    "encoder_embed_dim",
    "encoder_ffn_embed_dim",
    "encoder_attention_heads",
    "layer_norm_first",
    "final_dim",
    "untie_final_proj",
    "conv_pos",
    "conv_pos_groups",
    "modality_fuse",
    "audio_feat_dim",
    "sub_encoder_layers",
    "resnet_relu_type",
    "resnet_width",
    "resnet_blocks",
    "masking_type",
)


def _get(cfg: Any, name: str, default: Any = None) -> Any:
    """Attribute access that tolerates missing keys and unresolvable interpolations."""
    try:
        return getattr(cfg, name, default)
    except Exception:  # omegaconf InterpolationResolutionError etc.
        return default


def _scratch_encoder_cfg(cfg: AVHubertSeq2SeqConfig) -> AVHubertConfig:
    values = {name: _get(cfg, name) for name in _SCRATCH_FIELDS}
    values["resnet_blocks"] = list(values["resnet_blocks"])
    values["activation_fn"] = cfg.encoder_activation_fn
    return AVHubertConfig(**values)


def _label_classes_from_state(state: Dict[str, Any]) -> Optional[List[int]]:
    dicts = (state.get("task_state") or {}).get("dictionaries")
    if dicts:
        return [len(d) for d in dicts]
    emb = state["model"].get("label_embs_concat")
    return [int(emb.shape[0])] if emb is not None else None


def build_encoder(cfg: AVHubertSeq2SeqConfig) -> AVHubertModel:
    """Build (and, from ``w2v_path``, load) the AV-HuBERT encoder for a seq2seq config."""
    state = None
    overrides = {enc: _get(cfg, s2s) for s2s, enc in _ENCODER_OVERRIDES.items()}
    if cfg.w2v_args is not None:
        w2v_args = cfg.w2v_args
        if isinstance(w2v_args, Namespace):
            w2v_args = convert_namespace_to_omegaconf(w2v_args)
        enc_cfg = to_dataclass(AVHubertConfig, w2v_args.model, where="w2v_args.model")
        label_classes = None  # adapted from the checkpoint being loaded (upgrade_state_dict_named)
    elif cfg.w2v_path:
        state = load_checkpoint_state(cfg.w2v_path)
        w2v_args = state.get("cfg") or convert_namespace_to_omegaconf(state["args"])
        enc_cfg = to_dataclass(
            AVHubertConfig, w2v_args["model"], where=f"{cfg.w2v_path}: cfg.model", overrides=overrides
        )
        label_classes = _label_classes_from_state(state)
    else:
        enc_cfg = _scratch_encoder_cfg(cfg)
        for key, val in overrides.items():
            setattr(enc_cfg, key, val)
        w2v_args = None
        label_classes = list(cfg.pretrain_label_classes) or None
    enc_cfg.audio_drop_prob, enc_cfg.visual_drop_prob = cfg.audio_drop_prob, cfg.visual_drop_prob
    task_cfg = w2v_args["task"] if w2v_args is not None and "task" in w2v_args else None
    _check_normalize(cfg, task_cfg)
    model = AVHubertModel(enc_cfg, task_cfg, label_classes)
    if state is not None:
        if not cfg.no_pretrained_weights:
            weights = {k: v for k, v in state["model"].items() if k != "mask_emb"}  # as upstream
            missing, unexpected = model.load_state_dict(weights, strict=False)
            logger.info("loaded %s (missing %d keys, unexpected %d)", cfg.w2v_path, len(missing), len(unexpected))
        enc_plain = OmegaConf.to_container(OmegaConf.structured(enc_cfg), enum_to_str=True)
        task_plain = OmegaConf.to_container(task_cfg, enum_to_str=True) if OmegaConf.is_config(task_cfg) else task_cfg
        cfg.w2v_args = OmegaConf.create({"model": {"_name": "av_hubert", **enc_plain}, "task": task_plain or {}})
    model.remove_pretraining_modules()
    return model


def _check_normalize(cfg: AVHubertSeq2SeqConfig, task_cfg: Any) -> None:
    mine, theirs = _get(cfg, "normalize"), _get(task_cfg, "normalize") if task_cfg is not None else None
    if mine is not None and theirs is not None and bool(mine) != bool(theirs):
        logger.warning(
            "task.normalize=%s differs from the pretrained encoder's normalize=%s; fine-tuning works best "
            "with the same audio normalisation",
            mine,
            theirs,
        )


class HubertEncoderWrapper(FairseqEncoder):
    """Holds the AV-HuBERT model at ``w2v_model`` and returns fairseq encoder outputs (T x B x C)."""

    def __init__(self, w2v_model: AVHubertModel) -> None:
        super().__init__(None)
        self.w2v_model = w2v_model

    def forward(self, source, padding_mask=None, **kwargs) -> Dict[str, Any]:
        """Encode ``source`` ({"audio", "video", "present"}) -> encoder_out / padding masks."""
        x, padding_mask = self.w2v_model.extract_finetune(source=source, padding_mask=padding_mask)
        x = x.transpose(0, 1)
        return {"encoder_out": x, "encoder_padding_mask": padding_mask, "padding_mask": padding_mask}

    def reorder_encoder_out(self, encoder_out: Dict[str, Any], new_order: torch.Tensor) -> Dict[str, Any]:
        """Reorder for beam search."""
        if encoder_out["encoder_out"] is not None:
            encoder_out["encoder_out"] = encoder_out["encoder_out"].index_select(1, new_order)
        for key in ("encoder_padding_mask", "padding_mask"):
            if encoder_out.get(key) is not None:
                encoder_out[key] = encoder_out[key].index_select(0, new_order)
        return encoder_out

    def max_positions(self) -> Optional[int]:
        """No limit on input length."""
        return None


@register_model("av_hubert_seq2seq", dataclass=AVHubertSeq2SeqConfig)
class AVHubertSeq2Seq(FairseqEncoderDecoderModel):
    """AV-HuBERT encoder-decoder for speech recognition."""

    def __init__(self, encoder: HubertEncoderWrapper, decoder: TransformerDecoder, tgt_dict, cfg) -> None:
        super().__init__(encoder, decoder)
        self.cfg = cfg
        self.freeze_finetune_updates = cfg.freeze_finetune_updates
        self.freeze_encoder = bool(_get(cfg, "freeze_encoder", False))
        self.num_updates = 0
        if self.freeze_encoder:
            self.encoder.requires_grad_(False)
        # CTC projection (blank = tgt_dict.bos(), as fairseq's ``ctc`` criterion); None without a head
        self.ctc_proj: Optional[torch.nn.Linear] = None
        if bool(_get(cfg, "ctc_head", False)):
            self.ctc_proj = torch.nn.Linear(encoder.w2v_model.encoder_embed_dim, len(tgt_dict))
            torch.nn.init.xavier_uniform_(self.ctc_proj.weight)  # as fairseq's wav2vec CTC projection
            torch.nn.init.zeros_(self.ctc_proj.bias)
        self.ctc_blank = tgt_dict.bos()
        if self.ctc_proj is not None:
            logger.info(
                "CTC head: ctc_proj %d -> %d (blank = %d, %s)",
                self.ctc_proj.in_features,
                self.ctc_proj.out_features,
                self.ctc_blank,
                tgt_dict[self.ctc_blank],
            )
        apply_speed_options(self, cfg)

    @classmethod
    def build_model(cls, cfg: AVHubertSeq2SeqConfig, task) -> "AVHubertSeq2Seq":
        """Build encoder (see :func:`build_encoder`) and a decoder over ``task.target_dictionary``."""
        tgt_dict = task.target_dictionary
        if tgt_dict is None:
            raise ValueError("av_hubert_seq2seq needs a task with a target_dictionary (dict.wrd.txt)")
        encoder = HubertEncoderWrapper(build_encoder(cfg))
        enc_dim = encoder.w2v_model.encoder_embed_dim
        if enc_dim != cfg.decoder_embed_dim:
            raise ValueError(
                f"decoder_embed_dim={cfg.decoder_embed_dim} must equal the encoder dim {enc_dim} (set "
                f"model.decoder_embed_dim={enc_dim} and a matching decoder_ffn_embed_dim/"
                "decoder_attention_heads; finetune_avhubert_ami.py does this for pretrained checkpoints)"
            )
        embed_tokens = Embedding(len(tgt_dict), cfg.decoder_embed_dim, tgt_dict.pad())
        decoder = TransformerDecoder(cfg, tgt_dict, embed_tokens)
        return cls(encoder, decoder, tgt_dict, cfg)

    def encoder_frozen(self) -> bool:
        """True while encoder gradients are off (freeze_encoder, or within freeze_finetune_updates)."""
        return self.freeze_encoder or self.num_updates < self.freeze_finetune_updates

    @property
    def has_ctc_head(self) -> bool:
        """True when the model carries a CTC projection (``ctc_head=True``)."""
        return self.ctc_proj is not None

    def ctc_log_probs(self, encoder_out: Dict[str, Any]) -> torch.Tensor:
        """``T x B x V`` float32 CTC log-probabilities from ``model.encoder(...)``'s output."""
        if self.ctc_proj is None:
            raise RuntimeError("this model has no CTC head: train it with model.ctc_head=true (--ctc_weight > 0)")
        logits = self.ctc_proj(encoder_out["encoder_out"])
        return torch.log_softmax(logits.float(), dim=-1)

    def forward(self, **kwargs):
        """``source``, ``padding_mask``, ``prev_output_tokens`` -> decoder output.

        The decoder's extras also carry ``encoder_out`` so a CTC loss reuses this encoder pass.
        """
        with torch.no_grad() if self.encoder_frozen() else contextlib.ExitStack():
            output = self.encoder(**kwargs)
        logits, extra = self.decoder(prev_output_tokens=kwargs["prev_output_tokens"], encoder_out=output)
        extra["encoder_out"] = output
        return logits, extra

    def train(self, mode: bool = True) -> "AVHubertSeq2Seq":
        """A ``freeze_encoder`` encoder stays in eval mode: BatchNorm statistics and dropout as loaded.

        Per-sample modality drop (``audio_drop_prob``/``visual_drop_prob``) is data augmentation, not a
        weight update, so it stays active: only the encoder's top module keeps the training flag it reads.
        ``freeze_finetune_updates`` keeps training mode (BatchNorm statistics move), as upstream.
        """
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
            self.encoder.w2v_model.training = mode
        return self

    def set_num_updates(self, num_updates: int) -> None:
        """Track updates for freeze_finetune_updates."""
        super().set_num_updates(num_updates)
        self.num_updates = num_updates

    def upgrade_state_dict_named(self, state_dict, name):
        """Sub-modules adapt themselves (label embeddings); the CTC head is created or dropped here.

        A checkpoint without ``ctc_proj.*`` (official or attention-only) loaded into a model with a
        head gets the freshly initialised head, so everything else still loads strictly; a head in a
        checkpoint whose model has none is dropped. Both are logged.
        """
        super().upgrade_state_dict_named(state_dict, name)
        prefix = f"{name}.ctc_proj." if name else "ctc_proj."
        has_keys = any(k.startswith(prefix) for k in state_dict)
        if self.ctc_proj is not None and not has_keys:
            logger.info(
                "checkpoint has no CTC head: created ctc_proj (%d -> %d), freshly initialised",
                self.ctc_proj.in_features,
                self.ctc_proj.out_features,
            )
            for key, val in self.ctc_proj.state_dict().items():
                state_dict[prefix + key] = val.detach().clone()
        elif self.ctc_proj is None and has_keys:
            logger.warning("checkpoint has a CTC head but this model has ctc_head=false: ignoring ctc_proj")
            for key in [k for k in state_dict if k.startswith(prefix)]:
                del state_dict[key]
        return state_dict
