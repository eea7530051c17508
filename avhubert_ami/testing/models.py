"""Model configs and inputs for tests and benchmarks: upstream sizes, a tiny config, the demo's config, a minimal
task stand-in, a random batch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Dict

import torch
from fairseq.data import Dictionary

# official pretraining configs (conf/pretrain/{base,large}_vox_iter5.yaml), architecture part
BASE_ENCODER = dict(
    encoder_layers=12,
    encoder_embed_dim=768,
    encoder_ffn_embed_dim=3072,
    encoder_attention_heads=12,
    final_dim=256,
    untie_final_proj=True,
    layer_norm_first=True,
    audio_feat_dim=104,
    modality_fuse="concat",
)
LARGE_ENCODER = dict(
    BASE_ENCODER, encoder_layers=24, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096, encoder_attention_heads=16
)
# official fine-tuning configs (conf/finetune/{base,large}_vox_433h.yaml), decoder part
BASE_DECODER = dict(
    decoder_embed_dim=768,
    decoder_ffn_embed_dim=3072,
    decoder_layers=6,
    decoder_attention_heads=4,
    share_decoder_input_output_embed=True,
    decoder_normalize_before=True,
)
LARGE_DECODER = dict(
    BASE_DECODER, decoder_embed_dim=1024, decoder_ffn_embed_dim=4096, decoder_layers=9, decoder_attention_heads=8
)
SIZES = {"base": (BASE_ENCODER, BASE_DECODER), "large": (LARGE_ENCODER, LARGE_DECODER)}

TINY_ENCODER = dict(
    encoder_layers=2,
    encoder_embed_dim=64,
    encoder_ffn_embed_dim=128,
    encoder_attention_heads=4,
    final_dim=32,
    untie_final_proj=True,
    layer_norm_first=True,
    audio_feat_dim=104,
    conv_pos=16,
    conv_pos_groups=4,
    resnet_width=8,
    resnet_blocks=[1, 1, 1, 1],
)
TINY_DECODER = dict(
    decoder_embed_dim=64,
    decoder_ffn_embed_dim=128,
    decoder_layers=2,
    decoder_attention_heads=4,
    share_decoder_input_output_embed=True,
    decoder_normalize_before=True,
)


def demo_model_config() -> Dict[str, Any]:
    """The model section of the demo's preset (``conf/finetune/tiny_cpu.yaml``: 2 x 128-d encoder, 1 decoder
    layer, CTC head) as keyword arguments of ``AVHubertSeq2SeqConfig``."""
    from omegaconf import OmegaConf

    from avhubert_ami.training.presets import load_finetune_preset

    model = OmegaConf.to_container(load_finetune_preset("tiny_cpu").model)
    model.pop("_name")
    return model


def make_dictionary(n_symbols: int) -> Dictionary:
    """A fairseq Dictionary with the 4 specials plus ``n_symbols`` entries."""
    d = Dictionary()
    for i in range(n_symbols):
        d.add_symbol(f"w{i}")
    return d


def fake_task(n_labels: int = 50, n_target: int = 37, normalize: bool = True):
    """Minimal stand-in for the AV task: pretraining dictionaries and a target dictionary."""
    return SimpleNamespace(
        dictionaries=[make_dictionary(n_labels)],
        target_dictionary=make_dictionary(n_target),
        source_dictionary=None,
        cfg=SimpleNamespace(sample_rate=25, normalize=normalize, data="/nonexistent"),
    )


def av_batch(
    batch: int = 2, frames: int = 12, size: int = 88, tgt_len: int = 5, vocab: int = 41, audio=True, video=True
):
    """A random collated batch in the project's format (see DESIGN)."""
    g = torch.Generator().manual_seed(0)
    src = {
        "audio": torch.randn(batch, 104, frames, generator=g) if audio else None,
        "video": torch.randn(batch, 1, frames, size, size, generator=g) if video else None,
        "present": torch.tensor([[audio, video]] * batch),
    }
    padding = torch.zeros(batch, frames, dtype=torch.bool)
    padding[-1, frames - 3 :] = True
    prev = torch.randint(4, vocab, (batch, tgt_len), generator=g)
    prev[:, 0] = 2  # eos starts the decoder input
    return {"source": src, "padding_mask": padding, "prev_output_tokens": prev}
