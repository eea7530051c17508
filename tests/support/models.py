"""Helpers of the model tests: the tiny seq2seq model, upstream state-dict layouts and the inputs of the parity test
with upstream (model configs and a minimal task: :mod:`avhubert_ami.testing.models`)."""

from __future__ import annotations

import json
import os
import zlib
from typing import Dict, List

import torch

from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.testing.models import TINY_DECODER, TINY_ENCODER, fake_task
from tests.support import ASSETS

REFERENCE_DIR = os.environ.get("AVHUBERT_REFERENCE_DIR", "/work/shared/reference")


def tiny_seq2seq(**overrides) -> AVHubertSeq2Seq:
    """The tiny ``av_hubert_seq2seq`` (seeded: the same weights on every call), config fields overridden."""
    torch.manual_seed(0)
    cfg = AVHubertSeq2SeqConfig(**{**TINY_ENCODER, **TINY_DECODER, **overrides})
    return AVHubertSeq2Seq.build_model(cfg, fake_task(n_labels=50, n_target=37))


def reference_keys(size: str) -> Dict[str, Dict[str, List[int]]]:
    """Upstream state-dict layouts: {"pretrain": {key: shape}, "seq2seq": {...}}."""
    with open(os.path.join(REFERENCE_DIR, f"{size}_keys.json")) as f:
        return json.load(f)


def state_layout(model: torch.nn.Module) -> Dict[str, List[int]]:
    """key -> shape of a model's state dict."""
    return {k: list(v.shape) for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ parity with upstream AV-HuBERT
# Weights and inputs of the parity test come from integer hashing (exact on every platform and torch
# version), so the committed fixture (tests/assets/models_parity.pt) only holds upstream's outputs.
PARITY_FIXTURE = str(ASSETS / "models_parity.pt")
_M31 = 2**31


def det_tensor(shape, seed: int, scale: float = 1.0, offset: float = 0.0) -> torch.Tensor:
    """Deterministic pseudo-random float32 tensor, uniform in ``offset +- scale`` (integer hash of the index)."""
    n = 1
    for s in shape:
        n *= int(s)
    x = (torch.arange(n, dtype=torch.int64) * 1103515245 + 12345 + (seed % 1_000_003) * 2654435761) % _M31
    x = (x * 69069 + 1) % _M31
    x = x ^ (x >> 15)
    x = (x * 1664525 + 1013904223) % _M31
    x = x ^ (x >> 13)
    u = x.to(torch.float64) / _M31
    return ((u * 2 - 1) * scale + offset).to(torch.float32).view(*[int(s) for s in shape])


def det_state_dict(template: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Deterministic values for every floating tensor of a state dict (same key -> same values).

    Matrices get ``+-1/sqrt(fan_in)``, 1-D weights (layer/batch norm, PReLU) ``0.8 +- 0.3``, biases and
    running means ``+-0.1``, running variances ``1 +- 0.2``; integer buffers are kept.
    """
    out = {}
    for key, val in template.items():
        if not val.is_floating_point():
            out[key] = val.clone()
            continue
        cache_key = (key, tuple(val.shape))
        if cache_key not in _DET_CACHE:
            _DET_CACHE[cache_key] = _det_param(key, val)
        out[key] = _DET_CACHE[cache_key]
    return out


_DET_CACHE: Dict[tuple, torch.Tensor] = {}  # (key, shape) -> values; ResNet-18 hashing takes seconds


def _det_param(key: str, val: torch.Tensor) -> torch.Tensor:
    seed = zlib.crc32(key.encode())
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return det_tensor(val.shape, seed, 0.2, 1.0)
    if val.dim() >= 2:
        fan_in = max(1, val.numel() // max(1, val.shape[0]))
        return det_tensor(val.shape, seed, fan_in**-0.5)
    if leaf == "weight":
        return det_tensor(val.shape, seed, 0.3, 0.8)
    return det_tensor(val.shape, seed, 0.1)


# the tiny config with upstream's default ResNet-18 front-end, no dropout (a deterministic forward)
PARITY_ENCODER = dict(
    {k: v for k, v in TINY_ENCODER.items() if not k.startswith("resnet_")},
    dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    dropout_input=0.0,
    dropout_features=0.0,
    label_rate=25,
)
PARITY_DECODER = dict(
    TINY_DECODER,
    decoder_learned_pos=False,
    no_scale_embedding=True,
    decoder_dropout=0.0,
    decoder_attention_dropout=0.0,
    decoder_activation_dropout=0.0,
)
# case name -> (encoder overrides, decoder overrides or None for encoder-only cases)
PARITY_CASES = {
    "concat_prenorm": (dict(), dict()),
    "add_postnorm_sub": (
        dict(
            modality_fuse="add",
            layer_norm_first=False,
            sub_encoder_layers=1,
            encoder_embed_dim=96,
            encoder_attention_heads=3,
            conv_pos=12,
            conv_pos_groups=3,
            encoder_layers=3,
        ),
        dict(
            decoder_embed_dim=96,
            decoder_attention_heads=3,
            decoder_normalize_before=False,
            share_decoder_input_output_embed=False,
            decoder_learned_pos=True,
            no_scale_embedding=False,
        ),
    ),
    "relu_resnet_feature_mask": (
        dict(
            resnet_relu_type="relu",
            masking_type="feature",
            untie_final_proj=False,
            encoder_embed_dim=128,
            encoder_ffn_embed_dim=256,
            encoder_attention_heads=8,
            conv_pos=32,
            conv_pos_groups=8,
        ),
        None,
    ),
}
PARITY_BATCH, PARITY_FRAMES, PARITY_TGT_LEN, PARITY_VOCAB, PARITY_LABELS = 2, 8, 5, 23, 11


def parity_inputs() -> Dict[str, torch.Tensor]:
    """Audio B x 104 x T, video B x 1 x T x 88 x 88, a padding mask (last row padded), decoder tokens."""
    b, t = PARITY_BATCH, PARITY_FRAMES
    padding = torch.zeros(b, t, dtype=torch.bool)
    padding[-1, t - 3 :] = True
    n_sym = PARITY_VOCAB - 4
    prev = (det_tensor((b, PARITY_TGT_LEN), 7, 0.5, 0.5) * n_sym).long().clamp(max=n_sym - 1) + 4
    prev[:, 0] = 2  # eos starts the decoder input
    prev[-1, -1] = 1  # a padded target position
    return {
        "audio": det_tensor((b, 104, t), 1, 1.0),
        "video": det_tensor((b, 1, t, 88, 88), 2, 1.0),
        "padding_mask": padding,
        "prev_output_tokens": prev,
    }


# masked pretraining forward: upstream draws spans from numpy's global RNG (and torch's for
# same_other_seq), so a run seeded with np.random.seed(s) and torch.manual_seed(s) is reproducible
PARITY_MASK = dict(mask_prob_image=0.3, mask_length_image=2, mask_prob_audio=0.5, mask_length_audio=2)
# scenario -> (case of PARITY_CASES, encoder overrides)
PARITY_MASK_SCENARIOS = {
    "input_same_other_seq": ("concat_prenorm", dict(selection_type="same_other_seq")),
    "input_same_seq": ("add_postnorm_sub", dict(selection_type="same_seq")),
    "input_same_seq_uniform": (
        "concat_prenorm",
        dict(selection_type="same_seq", mask_selection="uniform", mask_other=1),
    ),
    "feature_channel": (
        "relu_resnet_feature_mask",
        dict(mask_prob_audio=0.3, mask_length_audio=2, mask_channel_prob=0.2, mask_channel_length=4),
    ),
}
PARITY_MASK_SEEDS = (0, 1)


def parity_targets() -> List[torch.Tensor]:
    """Frame-level pretraining labels (one label stream, B x T) for the masked forward."""
    n = PARITY_LABELS
    return [(det_tensor((PARITY_BATCH, PARITY_FRAMES), 11, 0.5, 0.5) * n).long().clamp(max=n - 1) + 4]
