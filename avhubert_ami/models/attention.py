"""Choose fairseq's attention implementation: fused SDPA (default) or the eager bmm/softmax path.

fairseq's ``MultiheadAttention`` already calls ``F.multi_head_attention_forward`` when it can (no
incremental state, no static k/v); with ``need_weights=False`` (encoder layers, decoder self-attention,
cross-attention while training) PyTorch runs that through the fused ``scaled_dot_product_attention``.
Decoder cross-attention is called with ``static_kv=True`` and so always takes fairseq's eager path.
``"eager"`` forces fairseq's own q@k^T -> softmax -> @v implementation instead (same parameters, same
results up to float rounding) - for benchmarks and numerics checks. Key names never change.
"""

from __future__ import annotations

import torch.nn as nn
from fairseq.modules import MultiheadAttention

IMPLS = ("sdpa", "eager")


def set_attention_impl(model: nn.Module, impl: str = "sdpa") -> int:
    """Switch every fairseq MultiheadAttention in ``model``; returns how many were switched.

    fairseq leaves its fused path when ``skip_embed_dim_check`` is set (that flag otherwise only skips
    a shape assertion, and our projections always have the checked shapes).
    """
    if impl not in IMPLS:
        raise ValueError(f"attention impl must be one of {IMPLS}, got {impl!r}")
    count = 0
    for module in model.modules():
        if isinstance(module, MultiheadAttention):
            module.skip_embed_dim_check = impl == "eager"
            count += 1
    return count
