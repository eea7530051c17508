"""Transformer decoder of ``av_hubert_seq2seq`` (upstream ``avhubert/decoder.py`` semantics).

Token embedding x ``embed_scale`` (1.0 when ``no_scale_embedding``, else sqrt(dim)) + positions,
dropout, fairseq ``TransformerDecoderLayer`` stack with a causal mask, optional final layer norm,
then a product with ``embed_tokens.weight`` (shared) or ``embed_out`` (not shared). Parameter
names match upstream (``embed_tokens``, ``layers.N.*``, ``layer_norm``, ``embed_out``).
"""

from __future__ import annotations

import math
from argparse import Namespace
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq import utils
from fairseq.models import FairseqIncrementalDecoder
from fairseq.modules import LayerNorm, PositionalEmbedding, TransformerDecoderLayer

# The only config fields upstream's decoder layers see (its seq2seq config has no others).
_LAYER_FIELDS = (
    "decoder_embed_dim",
    "decoder_ffn_embed_dim",
    "decoder_attention_heads",
    "decoder_normalize_before",
    "decoder_learned_pos",
    "decoder_layerdrop",
    "max_target_positions",
    "share_decoder_input_output_embed",
    "no_token_positional_embeddings",
    "no_scale_embedding",
)


def decoder_layer_args(cfg: Any) -> Namespace:
    """A clean namespace for fairseq's TransformerDecoderLayer, as upstream builds it.

    Dropouts come from the ``decoder_*`` fields; the activation is fairseq's default (relu) and the
    encoder-attention key/value size equals the decoder size, exactly as upstream's layers got.
    """
    args = Namespace(**{name: getattr(cfg, name) for name in _LAYER_FIELDS})
    args.dropout = cfg.decoder_dropout
    args.attention_dropout = cfg.decoder_attention_dropout
    args.activation_dropout = cfg.decoder_activation_dropout
    args.activation_fn = "relu"
    args.encoder_embed_dim = cfg.decoder_embed_dim
    return args


def Embedding(num_embeddings: int, embedding_dim: int, padding_idx: int) -> nn.Embedding:
    """Token embedding initialised as upstream (normal, std dim^-0.5, zero padding row)."""
    m = nn.Embedding(num_embeddings, embedding_dim, padding_idx=padding_idx)
    nn.init.normal_(m.weight, mean=0, std=embedding_dim**-0.5)
    nn.init.constant_(m.weight[padding_idx], 0)
    return m


class TransformerDecoder(FairseqIncrementalDecoder):
    """Autoregressive transformer decoder attending to the AV-HuBERT encoder output."""

    def __init__(self, cfg: Any, dictionary, embed_tokens: nn.Embedding) -> None:
        super().__init__(dictionary)
        self.dropout = cfg.decoder_dropout
        self.share_input_output_embed = cfg.share_decoder_input_output_embed
        embed_dim = cfg.decoder_embed_dim
        self.output_embed_dim = embed_dim
        self.layerdrop = cfg.decoder_layerdrop
        self.max_target_positions = cfg.max_target_positions
        self.embed_tokens = embed_tokens
        self.embed_scale = 1.0 if cfg.no_scale_embedding else math.sqrt(embed_dim)
        if embed_tokens.embedding_dim != embed_dim:
            raise ValueError(f"embedding dim {embed_tokens.embedding_dim} != decoder_embed_dim {embed_dim}")
        self.embed_positions = (
            PositionalEmbedding(
                cfg.max_target_positions, embed_dim, embed_tokens.padding_idx, learned=cfg.decoder_learned_pos
            )
            if not cfg.no_token_positional_embeddings
            else None
        )
        layer_args = decoder_layer_args(cfg)
        self.layers = nn.ModuleList([TransformerDecoderLayer(layer_args) for _ in range(cfg.decoder_layers)])
        if not self.share_input_output_embed:
            self.embed_out = nn.Parameter(torch.empty(len(dictionary), embed_dim))
            nn.init.normal_(self.embed_out, mean=0, std=embed_dim**-0.5)
        self.layer_norm = LayerNorm(embed_dim) if cfg.decoder_normalize_before else None

    def forward(self, prev_output_tokens, encoder_out=None, incremental_state=None, **unused):
        """Teacher-forced (or incremental) decoding -> (``B x L x V`` logits, extras)."""
        x, extra = self.extract_features(prev_output_tokens.long(), encoder_out, incremental_state)
        return self.output_layer(x), extra

    def extract_features(self, prev_output_tokens, encoder_out=None, incremental_state=None, **unused):
        """Decoder states ``B x L x D`` and ``{"attn", "inner_states"}``."""
        positions = (
            self.embed_positions(prev_output_tokens, incremental_state=incremental_state)
            if self.embed_positions is not None
            else None
        )
        if incremental_state is not None:
            prev_output_tokens = prev_output_tokens[:, -1:]
            if positions is not None:
                positions = positions[:, -1:]
        x = self.embed_scale * self.embed_tokens(prev_output_tokens)
        if positions is not None:
            x = x + positions
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = x.transpose(0, 1)
        attn = None
        inner_states = [x]
        enc = encoder_out["encoder_out"] if encoder_out is not None else None
        enc_pad = encoder_out["padding_mask"] if encoder_out is not None else None
        for layer in self.layers:
            if not self.training or np.random.random() > self.layerdrop:
                x, attn, _ = layer(
                    x,
                    enc,
                    enc_pad,
                    incremental_state,
                    self_attn_mask=self.buffered_future_mask(x) if incremental_state is None else None,
                )
                inner_states.append(x)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x.transpose(0, 1), {"attn": attn, "inner_states": inner_states}

    def output_layer(self, features: torch.Tensor, **kwargs) -> torch.Tensor:
        """Project to the vocabulary."""
        emb_mat = self.embed_tokens.weight if self.share_input_output_embed else self.embed_out
        return torch.matmul(features, emb_mat.transpose(0, 1))

    def max_positions(self) -> int:
        """Maximum output length supported by the decoder."""
        if self.embed_positions is None:
            return self.max_target_positions
        return min(self.max_target_positions, self.embed_positions.max_positions)

    def buffered_future_mask(self, tensor: torch.Tensor) -> torch.Tensor:
        """Causal ``-inf`` upper-triangular mask, cached."""
        dim = tensor.size(0)
        cached: Optional[torch.Tensor] = getattr(self, "_future_mask", None)
        if cached is None or cached.device != tensor.device or cached.size(0) < dim or cached.dtype != tensor.dtype:
            self._future_mask = torch.triu(utils.fill_with_neg_inf(tensor.new_empty(dim, dim)), 1)
        return self._future_mask[:dim, :dim]

    def upgrade_state_dict_named(self, state_dict: Dict[str, torch.Tensor], name: str) -> Dict[str, torch.Tensor]:
        """Nothing to upgrade (upstream layout)."""
        return state_dict
