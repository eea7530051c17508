"""AV-HuBERT encoder (fairseq model ``av_hubert``): audio/video front-ends, fusion, transformer.

Follows upstream ``avhubert/hubert.py`` operation by operation (front-ends -> fusion -> layer
norm -> ``post_extract_proj`` -> masking -> ``dropout_input`` -> wav2vec2 ``TransformerEncoder``)
and keeps its parameter names so official checkpoints load unchanged. Our extensions, all
defaulting to upstream behaviour: per-sample modality presence (``source["present"]``), per-sample
modality drop (``audio_drop_prob``/``visual_drop_prob``), a shrinkable ResNet for tiny CPU models,
and the newer wav2vec2 encoder knobs pinned to what upstream's fairseq did.
"""

import logging
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from fairseq import utils
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.models import BaseFairseqModel, register_model
from fairseq.models.wav2vec.wav2vec2 import TransformerEncoder
from fairseq.modules import GradMultiply, LayerNorm

from avhubert_ami.data.modality import AUDIO, VIDEO, apply_modality_drop, check_drop_probs
from avhubert_ami.models import pretrain
from avhubert_ami.models.resnet import ResEncoder

logger = logging.getLogger(__name__)

EXTRACTOR_MODE_CHOICES = ChoiceEnum(["default", "layer_norm"])
MASKING_DISTRIBUTION_CHOICES = ChoiceEnum(["static", "uniform", "normal", "poisson"])
LAYER_TYPE_CHOICES = ChoiceEnum(["transformer"])


@dataclass
class AVHubertConfig(FairseqDataclass):
    """Upstream ``AVHubertConfig`` field for field (plus our documented extensions at the end)."""

    # upstream interpolates these from the task; plain defaults keep our task free of them
    label_rate: int = field(default=-1, metadata={"help": "label frame rate (pretraining targets)"})
    input_modality: str = field(default="image", metadata={"help": "legacy, unused"})
    extractor_mode: EXTRACTOR_MODE_CHOICES = field(default="default", metadata={"help": "legacy, unused"})
    encoder_layers: int = field(default=12, metadata={"help": "num encoder layers in the transformer"})
    encoder_embed_dim: int = field(default=768, metadata={"help": "encoder embedding dimension"})
    encoder_ffn_embed_dim: int = field(default=3072, metadata={"help": "encoder embedding dimension for FFN"})
    encoder_attention_heads: int = field(default=12, metadata={"help": "num encoder attention heads"})
    activation_fn: ChoiceEnum(utils.get_available_activation_fns()) = field(
        default="gelu", metadata={"help": "activation function to use"}
    )
    dropout: float = field(default=0.1, metadata={"help": "dropout probability for the transformer"})
    attention_dropout: float = field(default=0.1, metadata={"help": "dropout probability for attention weights"})
    activation_dropout: float = field(default=0.0, metadata={"help": "dropout probability after activation in FFN"})
    encoder_layerdrop: float = field(default=0.0, metadata={"help": "probability of dropping a transformer layer"})
    dropout_input: float = field(default=0.0, metadata={"help": "dropout to apply to the input (after feat extr)"})
    dropout_features: float = field(default=0.0, metadata={"help": "dropout to apply to the features"})
    final_dim: int = field(default=0, metadata={"help": "project final representations to this dim (<=0: embed dim)"})
    untie_final_proj: bool = field(default=False, metadata={"help": "use separate projection for each target"})
    layer_norm_first: bool = field(default=False, metadata={"help": "apply layernorm first in the transformer"})
    conv_feature_layers: str = field(
        default="[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", metadata={"help": "legacy, unused"}
    )
    conv_bias: bool = field(default=False, metadata={"help": "legacy, unused"})
    logit_temp: float = field(default=0.1, metadata={"help": "temperature to divide logits by"})
    target_glu: bool = field(default=False, metadata={"help": "adds projection + glu to targets"})
    feature_grad_mult: float = field(default=1.0, metadata={"help": "multiply feature extractor var grads by this"})
    mask_length_audio: int = field(default=10, metadata={"help": "mask length"})
    mask_prob_audio: float = field(default=0.65, metadata={"help": "probability of replacing a token with mask"})
    mask_length_image: int = field(default=10, metadata={"help": "mask length"})
    mask_prob_image: float = field(default=0.65, metadata={"help": "probability of replacing a token with mask"})
    mask_selection: MASKING_DISTRIBUTION_CHOICES = field(
        default="static", metadata={"help": "how to choose mask length"}
    )
    mask_other: float = field(default=0, metadata={"help": "secondary mask argument"})
    no_mask_overlap: bool = field(default=False, metadata={"help": "whether to allow masks to overlap"})
    mask_min_space: int = field(default=1, metadata={"help": "min space between spans (if no overlap is enabled)"})
    mask_channel_length: int = field(default=10, metadata={"help": "length of the mask for features (channels)"})
    mask_channel_prob: float = field(default=0.0, metadata={"help": "probability of replacing a feature with 0"})
    mask_channel_selection: MASKING_DISTRIBUTION_CHOICES = field(
        default="static", metadata={"help": "channel mask length"}
    )
    mask_channel_other: float = field(default=0, metadata={"help": "secondary channel mask argument"})
    no_mask_channel_overlap: bool = field(default=False, metadata={"help": "whether to allow channel masks to overlap"})
    mask_channel_min_space: int = field(default=1, metadata={"help": "min space between channel spans"})
    conv_pos: int = field(default=128, metadata={"help": "number of filters for convolutional positional embeddings"})
    conv_pos_groups: int = field(
        default=16, metadata={"help": "number of groups for convolutional positional embedding"}
    )
    latent_temp: Tuple[float, float, float] = field(default=(2, 0.5, 0.999995), metadata={"help": "legacy"})
    skip_masked: bool = field(default=False, metadata={"help": "skip computing losses over masked frames"})
    skip_nomask: bool = field(default=False, metadata={"help": "skip computing losses over unmasked frames"})
    resnet_relu_type: str = field(default="prelu", metadata={"help": "relu type for resnet"})
    resnet_weights: Optional[str] = field(default=None, metadata={"help": "resnet weights"})
    sim_type: str = field(default="cosine", metadata={"help": "similarity type"})
    sub_encoder_layers: int = field(default=0, metadata={"help": "number of transformer layers for single modality"})
    audio_feat_dim: int = field(default=-1, metadata={"help": "audio feature dimension"})
    modality_dropout: float = field(default=0, metadata={"help": "drop one modality (per batch, pretraining forward)"})
    audio_dropout: float = field(default=0, metadata={"help": "drop audio feature (per batch, pretraining forward)"})
    modality_fuse: str = field(default="concat", metadata={"help": "fusing two modalities: add,concat"})
    selection_type: str = field(default="same_other_seq", metadata={"help": "same_other_seq or same_seq image masking"})
    masking_type: str = field(default="input", metadata={"help": "input or feature masking"})
    decoder_embed_dim: int = field(default=768, metadata={"help": "unused by the encoder (upstream field)"})
    decoder_ffn_embed_dim: int = field(default=3072, metadata={"help": "unused by the encoder (upstream field)"})
    decoder_layers: int = field(default=6, metadata={"help": "unused by the encoder (upstream field)"})
    decoder_layerdrop: float = field(default=0.0, metadata={"help": "unused by the encoder (upstream field)"})
    decoder_attention_heads: int = field(default=4, metadata={"help": "unused by the encoder (upstream field)"})
    decoder_learned_pos: bool = field(default=False, metadata={"help": "unused by the encoder (upstream field)"})
    decoder_normalize_before: bool = field(default=False, metadata={"help": "unused by the encoder (upstream field)"})
    no_token_positional_embeddings: bool = field(default=False, metadata={"help": "unused (upstream field)"})
    decoder_dropout: float = field(default=0.1, metadata={"help": "unused by the encoder (upstream field)"})
    decoder_attention_dropout: float = field(default=0.1, metadata={"help": "unused by the encoder (upstream field)"})
    decoder_activation_dropout: float = field(default=0.0, metadata={"help": "unused by the encoder (upstream field)"})
    max_target_positions: int = field(default=2048, metadata={"help": "unused by the encoder (upstream field)"})
    share_decoder_input_output_embed: bool = field(default=False, metadata={"help": "unused (upstream field)"})
    no_scale_embedding: bool = field(default=True, metadata={"help": "unused by the encoder (upstream field)"})

    # --- our extensions (defaults = upstream behaviour) ---
    resnet_width: int = field(
        default=64, metadata={"help": "ResNet base width; stages width*[1,2,4,8], output 8*width"}
    )
    resnet_blocks: List[int] = field(default_factory=lambda: [2, 2, 2, 2], metadata={"help": "BasicBlocks per stage"})
    audio_drop_prob: float = field(default=0.0, metadata={"help": "per-sample prob. of dropping audio (training)"})
    visual_drop_prob: float = field(default=0.0, metadata={"help": "per-sample prob. of dropping video (training)"})
    # knobs of the newer fairseq wav2vec2 TransformerEncoder, pinned to upstream's (older) behaviour
    layer_type: LAYER_TYPE_CHOICES = field(default="transformer", metadata={"help": "encoder layer type"})
    required_seq_len_multiple: int = field(default=1, metadata={"help": "pad encoder input to this multiple"})
    checkpoint_activations: bool = field(default=False, metadata={"help": "activation checkpointing in the encoder"})
    conv_pos_batch_norm: bool = field(default=False, metadata={"help": "batch norm instead of weight norm in pos conv"})
    pos_conv_depth: int = field(default=1, metadata={"help": "depth of positional encoder network"})


class SubModel(nn.Module):
    """One modality's front-end: optional ResNet, linear projection, optional transformer."""

    def __init__(self, resnet: Optional[nn.Module], input_dim: int, cfg: AVHubertConfig) -> None:
        super().__init__()
        self.resnet = resnet
        self.proj = nn.Linear(input_dim, cfg.encoder_embed_dim)
        self.encoder = TransformerEncoder(cfg) if cfg.encoder_layers > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x T`` (audio) or ``B x 1 x T x H x W`` (video) -> ``B x D x T``."""
        if self.resnet is not None:
            x = self.resnet(x)
        x = self.proj(x.transpose(1, 2))
        if self.encoder is not None:
            x = self.encoder(x)[0]
        return x.transpose(1, 2)


def _label_classes(dictionaries) -> Optional[List[int]]:
    """Sizes of the pretraining label dictionaries, or None when there are none (fine-tuning)."""
    if dictionaries is None:
        return None
    if not isinstance(dictionaries, (list, tuple)):
        dictionaries = [dictionaries]
    if len(dictionaries) == 0 or any(d is None for d in dictionaries):
        return None
    return [d if isinstance(d, int) else len(d) for d in dictionaries]


@register_model("av_hubert", dataclass=AVHubertConfig)
class AVHubertModel(BaseFairseqModel):
    """Audio-visual HuBERT encoder; ``extract_finetune`` is the fine-tuning entry point."""

    def __init__(self, cfg: AVHubertConfig, task_cfg=None, dictionaries=None, **kwargs) -> None:
        super().__init__()
        check_drop_probs(cfg.audio_drop_prob, cfg.visual_drop_prob)
        if cfg.modality_fuse not in ("concat", "add"):
            raise ValueError(f"modality_fuse must be 'concat' or 'add', got {cfg.modality_fuse!r}")
        if cfg.masking_type not in ("input", "feature"):
            raise ValueError(f"masking_type must be 'input' or 'feature', got {cfg.masking_type!r}")
        if cfg.audio_feat_dim <= 0:
            raise ValueError(
                f"audio_feat_dim must be set (104 for 4 stacked 26-dim filterbanks), got {cfg.audio_feat_dim}"
            )
        self.cfg = cfg
        sample_rate = getattr(task_cfg, "sample_rate", None) if task_cfg is not None else None
        self.feat2tar_ratio = cfg.label_rate / sample_rate if sample_rate and cfg.label_rate > 0 else 1.0

        sub_cfg = deepcopy(cfg)
        sub_cfg.encoder_layers = sub_cfg.sub_encoder_layers
        resnet = ResEncoder(cfg.resnet_relu_type, cfg.resnet_weights, cfg.resnet_width, list(cfg.resnet_blocks))
        self.feature_extractor_audio = SubModel(None, cfg.audio_feat_dim, sub_cfg)
        self.feature_extractor_video = SubModel(resnet, resnet.backend_out, sub_cfg)
        self.modality_dropout, self.audio_dropout = cfg.modality_dropout, cfg.audio_dropout
        self.audio_drop_prob, self.visual_drop_prob = cfg.audio_drop_prob, cfg.visual_drop_prob
        self.modality_fuse = cfg.modality_fuse
        self.encoder_embed_dim = cfg.encoder_embed_dim
        self.embed = cfg.encoder_embed_dim * (2 if cfg.modality_fuse == "concat" else 1)
        self.post_extract_proj = (
            nn.Linear(self.embed, cfg.encoder_embed_dim) if self.embed != cfg.encoder_embed_dim else None
        )
        self.mask_prob_image, self.mask_prob_audio = cfg.mask_prob_image, cfg.mask_prob_audio
        self.mask_length_image, self.mask_length_audio = cfg.mask_length_image, cfg.mask_length_audio
        self.dropout_input = nn.Dropout(cfg.dropout_input)
        self.dropout_features = nn.Dropout(cfg.dropout_features)
        self.feature_grad_mult = cfg.feature_grad_mult
        self.logit_temp = cfg.logit_temp
        self.skip_masked, self.skip_nomask = cfg.skip_masked, cfg.skip_nomask
        self.sim_type, self.selection_type, self.masking_type = cfg.sim_type, cfg.selection_type, cfg.masking_type
        final_dim = cfg.final_dim if cfg.final_dim > 0 else cfg.encoder_embed_dim
        self.final_dim = final_dim
        mask_dim = cfg.audio_feat_dim if self.masking_type == "input" else cfg.encoder_embed_dim
        self.mask_emb = nn.Parameter(torch.FloatTensor(mask_dim).uniform_())
        self.encoder = TransformerEncoder(cfg)
        self.layer_norm = LayerNorm(self.embed)
        self.target_glu = nn.Sequential(nn.Linear(final_dim, final_dim * 2), nn.GLU()) if cfg.target_glu else None
        self.untie_final_proj = cfg.untie_final_proj
        self.num_classes = _label_classes(dictionaries)
        n_targets = len(self.num_classes) if self.num_classes else 1
        self.final_proj = nn.Linear(cfg.encoder_embed_dim, final_dim * (n_targets if self.untie_final_proj else 1))
        if self.num_classes is None:
            logger.info("no label dictionaries: building AV-HuBERT without label embeddings (fine-tuning)")
        else:
            self.label_embs_concat = nn.Parameter(torch.FloatTensor(sum(self.num_classes), final_dim))
            nn.init.uniform_(self.label_embs_concat)

    @classmethod
    def build_model(cls, cfg: AVHubertConfig, task) -> "AVHubertModel":
        """Build from a task exposing ``dictionaries`` (pretraining labels) and ``cfg``."""
        dictionaries = getattr(task, "dictionaries", None) if task is not None else None
        return cls(cfg, getattr(task, "cfg", None), dictionaries)

    # ---------------------------------------------------------------- checkpoints
    def upgrade_state_dict_named(self, state_dict: Dict[str, torch.Tensor], name: str) -> Dict[str, torch.Tensor]:
        """Adapt the (fine-tuning-unused) label embeddings to the checkpoint's layout.

        fairseq calls this for every sub-module before a strict ``load_state_dict``; children
        need no upgrade, so the base-class recursion is not repeated here.
        """
        key = f"{name}.label_embs_concat" if name else "label_embs_concat"
        if key in state_dict:
            emb = state_dict[key]
            if getattr(self, "label_embs_concat", None) is None or self.label_embs_concat.shape != emb.shape:
                self.label_embs_concat = nn.Parameter(self.mask_emb.new_zeros(emb.shape))
                rows = int(emb.shape[0])
                self.num_classes = self.num_classes if self.num_classes and sum(self.num_classes) == rows else [rows]
        elif getattr(self, "label_embs_concat", None) is not None:
            del self.label_embs_concat
            self.num_classes = None
        for sub in ("final_proj", "target_glu"):
            prefix = f"{name}.{sub}." if name else f"{sub}."
            if getattr(self, sub, None) is not None and not any(k.startswith(prefix) for k in state_dict):
                setattr(self, sub, None)  # checkpoint saved after remove_pretraining_modules()
        return state_dict

    def remove_pretraining_modules(self) -> None:
        """Drop the modules only used by the pretraining loss (as upstream)."""
        self.target_glu = None
        self.final_proj = None

    # ---------------------------------------------------------------- front-ends
    def forward_features(self, source: torch.Tensor, modality: str) -> torch.Tensor:
        """Run one modality's front-end with upstream's feature_grad_mult semantics."""
        extractor = self.feature_extractor_audio if modality == "audio" else self.feature_extractor_video
        if self.feature_grad_mult > 0:
            features = extractor(source)
            if self.feature_grad_mult != 1.0:
                features = GradMultiply.apply(features, self.feature_grad_mult)
        else:
            with torch.no_grad():
                features = extractor(source)
        return features

    def _presence(self, source: Dict[str, Optional[torch.Tensor]]) -> Optional[torch.Tensor]:
        """Per-sample presence BoolTensor[B, 2] (after training-time drop), or None if all present."""
        audio, video = source.get("audio"), source.get("video")
        if audio is None and video is None:
            raise ValueError("source has neither 'audio' nor 'video': at least one modality is required")
        ref = audio if audio is not None else video
        present = source.get("present")
        if present is None:
            if (
                audio is not None
                and video is not None
                and not (self.training and (self.audio_drop_prob > 0 or self.visual_drop_prob > 0))
            ):
                return None
            present = torch.ones(ref.size(0), 2, dtype=torch.bool, device=ref.device)
        present = present.to(device=ref.device, dtype=torch.bool)
        if present.shape != (ref.size(0), 2):
            raise ValueError(
                f"source['present'] must be BoolTensor[B, 2] with B={ref.size(0)}, got {tuple(present.shape)}"
            )
        avail = torch.tensor([audio is not None, video is not None], device=ref.device)
        present = present & avail
        if self.training and (self.audio_drop_prob > 0 or self.visual_drop_prob > 0):
            present = apply_modality_drop(present, self.audio_drop_prob, self.visual_drop_prob)
        return present

    def fused_features(self, source: Dict[str, Optional[torch.Tensor]]) -> torch.Tensor:
        """Front-ends + missing-modality zeros + fusion -> ``B x embed x T`` (no pretraining drop)."""
        src_audio, src_video = source.get("audio"), source.get("video")
        present = self._presence(source)
        feats_audio = self.forward_features(src_audio, "audio") if src_audio is not None else None
        feats_video = self.forward_features(src_video, "video") if src_video is not None else None
        ref = feats_audio if feats_audio is not None else feats_video
        if feats_audio is None:
            feats_audio = ref.new_zeros(ref.size(0), self.encoder_embed_dim, ref.size(-1))
        if feats_video is None:
            feats_video = ref.new_zeros(ref.size(0), self.encoder_embed_dim, ref.size(-1))
        if present is not None:
            zero = ref.new_zeros(())
            feats_audio = torch.where(present[:, AUDIO].view(-1, 1, 1), feats_audio, zero)
            feats_video = torch.where(present[:, VIDEO].view(-1, 1, 1), feats_video, zero)
        return self._fuse(feats_audio, feats_video)

    def _fuse(self, feats_audio: torch.Tensor, feats_video: torch.Tensor) -> torch.Tensor:
        if self.modality_fuse == "concat":
            return torch.cat([feats_audio, feats_video], dim=1)
        return feats_audio + feats_video

    def forward_padding_mask(self, features: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """Reduce an input-rate padding mask to the feature rate (as upstream)."""
        extra = padding_mask.size(1) % features.size(1)
        if extra > 0:
            padding_mask = padding_mask[:, :-extra]
        return padding_mask.view(padding_mask.size(0), features.size(1), -1).all(-1)

    def _encode(
        self, features: torch.Tensor, padding_mask: Optional[torch.Tensor], output_layer: Optional[int]
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        """Shared tail: layer norm, padding, projection, input dropout. Returns (x, padding_mask, features)."""
        features = self.layer_norm(features.transpose(1, 2))
        if padding_mask is not None:
            padding_mask = self.forward_padding_mask(features, padding_mask)
        if self.post_extract_proj is not None:
            features = self.post_extract_proj(features)
        features = self.dropout_input(features)
        return features, padding_mask, features

    def extract_finetune(
        self,
        source: Dict[str, Optional[torch.Tensor]],
        padding_mask: Optional[torch.Tensor] = None,
        mask: bool = False,
        ret_conv: bool = False,
        output_layer: Optional[int] = None,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Encode for fine-tuning: returns (``B x T x D`` features, ``B x T`` padding mask).

        ``ret_conv`` is accepted and ignored, as upstream's ``extract_finetune`` does; pre-transformer
        features come from :meth:`extract_features` with ``ret_conv=True``.
        """
        if mask and self.masking_type == "input":
            source = dict(source)
            for key in ("video", "audio"):
                if source.get(key) is not None:
                    source[key], _ = pretrain.apply_input_mask(self, source[key], padding_mask)
        features = self.fused_features(source)
        x, padding_mask, _ = self._encode(features, padding_mask, output_layer)
        x, _ = self.encoder(x, padding_mask=padding_mask, layer=None if output_layer is None else output_layer - 1)
        return x, padding_mask

    def forward(
        self,
        source: Dict[str, Optional[torch.Tensor]],
        target_list: Optional[List[torch.Tensor]] = None,
        padding_mask: Optional[torch.Tensor] = None,
        mask: bool = True,
        features_only: bool = False,
        output_layer: Optional[int] = None,
    ) -> Dict[str, torch.Tensor]:
        """Pretraining forward (masked prediction of cluster labels), as upstream; output_layer is 1-based."""
        src_audio, src_video = source["audio"], source["video"]
        mask_indices = None
        if mask and self.masking_type == "input":
            src_video, mask_video = pretrain.apply_input_mask(self, src_video, padding_mask)
            src_audio, mask_audio = pretrain.apply_input_mask(self, src_audio, padding_mask)
            if mask_audio is not None and mask_video is not None:
                mask_indices = mask_audio | mask_video
            else:
                mask_indices = mask_audio if mask_audio is not None else mask_video
        features_audio = self.forward_features(src_audio, "audio")
        features_video = self.forward_features(src_video, "video")
        modality_drop_prob, audio_drop_prob = np.random.random(), np.random.random()
        if self.training and modality_drop_prob < self.modality_dropout:  # upstream's per-batch drop
            if audio_drop_prob < self.audio_dropout:
                features_audio = 0 * features_audio
            else:
                features_video = 0 * features_video
        features = self._fuse(features_audio, features_video)
        if target_list is not None:
            features, mask_indices, target_list = pretrain.forward_targets(self, features, mask_indices, target_list)
        features_pen = features.float().pow(2).mean()
        x, padding_mask, features = self._encode(features, padding_mask, output_layer)
        if self.masking_type == "feature" and mask:
            x, mask_indices = pretrain.apply_feature_mask(self, x, padding_mask)
        x, _ = self.encoder(x, padding_mask=padding_mask, layer=None if output_layer is None else output_layer - 1)
        if features_only:
            return {"x": x, "padding_mask": padding_mask, "features": features}
        result = pretrain.label_logits(self, x, padding_mask, mask_indices, target_list)
        result["features_pen"] = features_pen
        return result

    def extract_features(
        self,
        source: Dict[str, Optional[torch.Tensor]],
        padding_mask: Optional[torch.Tensor] = None,
        mask: bool = False,
        ret_conv: bool = False,
        output_layer: Optional[int] = None,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Upstream API: features from the pretraining forward path."""
        res = self.forward(source, padding_mask=padding_mask, mask=mask, features_only=True, output_layer=output_layer)
        return (res["features"] if ret_conv else res["x"]), res["padding_mask"]

    def get_extra_losses(self, net_output: Dict[str, torch.Tensor]):
        """The feature penalty, as upstream."""
        if "features_pen" in net_output:
            return [net_output["features_pen"]], ["features_pen"]
        return [], []

    def get_logits(self, net_output, is_masked=True):
        """Pretraining logits (masked or unmasked frames), list per target."""
        return net_output["logit_m_list" if is_masked else "logit_u_list"]

    def get_targets(self, net_output, is_masked=True):
        """Pretraining targets aligned with :meth:`get_logits`."""
        return net_output["target_m_list" if is_masked else "target_u_list"]
