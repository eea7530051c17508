"""Choose the attention implementation of every fairseq ``MultiheadAttention`` in a model.

* ``"sdpa"`` (default, upstream's code path): fairseq's own ``MultiheadAttention.forward``, which calls
  ``F.multi_head_attention_forward`` when it can (no incremental state, no static k/v); with
  ``need_weights=False`` (encoder layers, decoder self-attention) PyTorch runs that through the fused
  ``scaled_dot_product_attention``, but with the key-padding mask turned into an additive float mask
  materialised per head (B x H x 1 x S). Decoder cross-attention is called with ``static_kv=True`` and so always
  takes fairseq's eager path.
* ``"eager"``: fairseq's own q@k^T -> softmax -> @v everywhere (benchmarks and numerics checks).
* ``"bool_sdpa"``: :class:`BoolMaskAttention` for every call without incremental state (training, validation
  loss, the encoder at decoding time), self- and cross-attention alike: one projection GEMM for q/k/v (k/v for
  cross-attention), then ``scaled_dot_product_attention`` with the key-padding mask as a boolean B x 1 x 1 x S
  mask broadcast over heads and queries (and a given ``attn_mask``, e.g. the decoder's causal mask, added to
  it), so PyTorch can pick its memory-efficient kernel. Calls it does not cover (incremental decoding, attention
  weights asked for, bias_k/v, zero attention) run fairseq's code unchanged. Same parameters, same outputs up to
  float rounding (tests/models/test_attention_paths.py).

Switching never renames a module or a parameter: state-dict keys stay upstream's.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.modules import MultiheadAttention
from torch import Tensor

IMPLS = ("sdpa", "eager", "bool_sdpa")


class BoolMaskAttention(MultiheadAttention):
    """fairseq ``MultiheadAttention`` whose calls without incremental state go through SDPA with a boolean mask.

    Instances are made by :func:`set_attention_impl` by switching the class of an existing module (so its
    parameters, names and hooks stay); it is never constructed directly.
    """

    def forward(
        self,
        query: Tensor,
        key: Optional[Tensor],
        value: Optional[Tensor],
        key_padding_mask: Optional[Tensor] = None,
        incremental_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]] = None,
        need_weights: bool = True,
        static_kv: bool = False,
        attn_mask: Optional[Tensor] = None,
        before_softmax: bool = False,
        need_head_weights: bool = False,
    ) -> Tuple[Tensor, Optional[Tensor]]:
        if not self._covers(query, key, value, incremental_state, need_weights, before_softmax, need_head_weights):
            return super().forward(
                query,
                key,
                value,
                key_padding_mask=key_padding_mask,
                incremental_state=incremental_state,
                need_weights=need_weights,
                static_kv=static_kv,
                attn_mask=attn_mask,
                before_softmax=before_softmax,
                need_head_weights=need_head_weights,
            )
        return self._sdpa_forward(query, key, key_padding_mask, attn_mask), None

    def _covers(self, query, key, value, incremental_state, need_weights, before_softmax, need_head_weights) -> bool:
        """True when this call is one the SDPA path computes exactly as fairseq would."""
        if incremental_state is not None or need_weights or before_softmax or need_head_weights:
            return False
        if self.bias_k is not None or self.add_zero_attn or self.onnx_trace or self.beam_size != 1:
            return False
        if self.skip_embed_dim_check or query.device.type == "xla":
            return False
        if self.self_attention:
            return key is None or key is query
        return self.encoder_decoder_attention and key is not None and value is key

    def _sdpa_forward(
        self, query: Tensor, key: Tensor, key_padding_mask: Optional[Tensor], attn_mask: Optional[Tensor]
    ) -> Tensor:
        tgt_len, bsz, embed_dim = query.shape
        heads, head_dim = self.num_heads, self.head_dim
        if self.self_attention:
            weight = torch.cat((self.q_proj.weight, self.k_proj.weight, self.v_proj.weight))
            bias = _cat_bias(self.q_proj.bias, self.k_proj.bias, self.v_proj.bias)
            q, k, v = F.linear(query, weight, bias).chunk(3, dim=-1)
        else:
            q = self.q_proj(query)
            weight = torch.cat((self.k_proj.weight, self.v_proj.weight))
            k, v = F.linear(key, weight, _cat_bias(self.k_proj.bias, self.v_proj.bias)).chunk(2, dim=-1)
        src_len = k.size(0)

        def split_heads(x: Tensor, length: int) -> Tensor:  # T x B x E -> B x H x T x D (a view)
            return x.view(length, bsz, heads, head_dim).permute(1, 2, 0, 3)

        mask = sdpa_mask(key_padding_mask, attn_mask, query.dtype)
        dropout = self.dropout_module.p if (self.training or self.dropout_module.apply_during_inference) else 0.0
        out = F.scaled_dot_product_attention(
            split_heads(q, tgt_len), split_heads(k, src_len), split_heads(v, src_len), attn_mask=mask, dropout_p=dropout
        )
        out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, embed_dim)
        return self.out_proj(out)


def _cat_bias(*biases: Optional[Tensor]) -> Optional[Tensor]:
    return None if any(b is None for b in biases) else torch.cat(biases)


def sdpa_mask(key_padding_mask: Optional[Tensor], attn_mask: Optional[Tensor], dtype: torch.dtype) -> Optional[Tensor]:
    """The ``attn_mask`` of ``scaled_dot_product_attention`` for fairseq's two masks.

    ``key_padding_mask`` (B x S, True/nonzero = padding) becomes a boolean B x 1 x 1 x S keep-mask, broadcast over
    heads and queries; a fairseq ``attn_mask`` (T x S, additive float or boolean True = masked) is combined with it.
    """
    keep = None if key_padding_mask is None else ~key_padding_mask.bool()[:, None, None, :]
    if attn_mask is None:
        return keep
    if attn_mask.dtype == torch.bool:  # fairseq/PyTorch nn convention: True = not allowed
        allowed = ~attn_mask
        return allowed if keep is None else keep & allowed
    additive = attn_mask.to(dtype)
    if keep is None:
        return additive
    return additive.masked_fill(~keep, float("-inf"))


def set_attention_impl(model: nn.Module, impl: str = "sdpa") -> int:
    """Switch every fairseq ``MultiheadAttention`` in ``model`` to ``impl`` (see the module docstring); returns
    how many were switched.

    ``eager`` uses fairseq's ``skip_embed_dim_check`` (which otherwise only skips a shape assertion, and our
    projections always have the checked shapes): fairseq leaves its fused path when it is set.
    """
    if impl not in IMPLS:
        raise ValueError(f"attention impl must be one of {', '.join(IMPLS)}; got {impl!r}")
    count = 0
    for module in model.modules():
        if isinstance(module, MultiheadAttention):
            module.skip_embed_dim_check = impl == "eager"
            if type(module) in (MultiheadAttention, BoolMaskAttention):
                module.__class__ = BoolMaskAttention if impl == "bool_sdpa" else MultiheadAttention
            count += 1
    return count


def attention_impl(model: nn.Module) -> Optional[str]:
    """The implementation :func:`set_attention_impl` last set on ``model`` (None without any attention)."""
    for module in model.modules():
        if isinstance(module, MultiheadAttention):
            if module.skip_embed_dim_check:
                return "eager"
            return "bool_sdpa" if isinstance(module, BoolMaskAttention) else "sdpa"
    return None
