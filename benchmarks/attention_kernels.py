"""Benchmark: one self-attention layer, fwd+bwd, per attention path and SDPA backend, with key padding.

Paths: ``eager`` (fairseq's bmm/softmax), ``fairseq_sdpa`` (fairseq -> ``F.multi_head_attention_forward``, which
hands SDPA an additive float mask materialised per head, B x H x 1 x S), ``bool_sdpa`` (q/k/v projections, then
SDPA with a boolean B x 1 x 1 x S key mask, broadcast over heads and queries), ``nomask_sdpa`` (no mask at all:
the flash kernel's lower bound, wrong for padded batches). Each SDPA path is also run with one backend forced
(``[MATH]``, ``[EFFICIENT_ATTENTION]``, ``[CUDNN_ATTENTION]``, ``[FLASH_ATTENTION]``); a backend that refuses
the inputs is reported as such. Shapes: the short and long ends of the AMI-like batches of
``benchmarks/gpu_step.py`` (base: 56 x 71 and 10 x 375 frames; large: 5 x 375).

    python benchmarks/attention_kernels.py --device cuda --json out.json
    python benchmarks/attention_kernels.py --device cpu --dtypes fp32 --iters 2   # correctness check only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SHAPES = [("base", 768, 12, 56, 71), ("base", 768, 12, 10, 375), ("large", 1024, 16, 5, 375)]


def bool_sdpa(mod, x: torch.Tensor, pad: Optional[torch.Tensor], use_mask: bool = True) -> torch.Tensor:
    """Self-attention of fairseq module ``mod`` on ``x`` (T x B x E) through SDPA with a boolean key mask."""
    t, b, e = x.shape
    h = mod.num_heads

    def heads(y: torch.Tensor) -> torch.Tensor:
        return y.view(t, b, h, e // h).permute(1, 2, 0, 3)

    q, k, v = heads(mod.q_proj(x)), heads(mod.k_proj(x)), heads(mod.v_proj(x))
    mask = (~pad).view(b, 1, 1, t) if (use_mask and pad is not None) else None
    p = mod.dropout_module.p if mod.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
    return mod.out_proj(out.permute(2, 0, 1, 3).reshape(t, b, e))


def paths(mod) -> Dict[str, Callable]:
    def fairseq(x, pad):
        return mod(x, x, x, key_padding_mask=pad, need_weights=False)[0]

    return {
        "eager": fairseq,
        "fairseq_sdpa": fairseq,
        "bool_sdpa": lambda x, pad: bool_sdpa(mod, x, pad),
        "nomask_sdpa": lambda x, pad: bool_sdpa(mod, x, pad, use_mask=False),
    }


def timed(fn: Callable, x: torch.Tensor, pad, iters: int, warmup: int, device: str) -> float:
    def once() -> float:
        x.grad = None
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(x, pad).float().square().mean().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    for _ in range(warmup):
        once()
    return statistics.median(once() for _ in range(iters))


def main(argv=None) -> None:
    from fairseq.modules import MultiheadAttention
    from torch.nn.attention import SDPBackend, sdpa_kernel

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtypes", default="fp16,bf16")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    dev = args.device
    backends = ["MATH", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "FLASH_ATTENTION"] if dev == "cuda" else ["MATH"]
    rows: List[dict] = []
    g = torch.Generator().manual_seed(0)
    for size, e, h, b, t in SHAPES:
        lengths = torch.randint(t // 3, t + 1, (b,), generator=g)
        lengths[0] = t
        pad = (torch.arange(t)[None, :] >= lengths[:, None]).to(dev)
        for dname in args.dtypes.split(","):
            dtype = DTYPES[dname]
            torch.manual_seed(0)
            mod = MultiheadAttention(e, h, dropout=0.0, self_attention=True).to(dev, dtype).train()
            x = torch.randn(t, b, e, device=dev, dtype=dtype, requires_grad=True)
            ref = None
            for name, fn in paths(mod).items():
                mod.skip_embed_dim_check = name == "eager"
                with torch.no_grad():
                    out = fn(x, pad).float()
                if name == "eager":
                    ref = out
                valid = ~pad.t()[:, :, None]  # rows of real frames
                diff = ((out - ref).abs() * valid).max().item()
                for backend in [None] + ([] if name == "eager" else backends):
                    label = name if backend is None else f"{name}[{backend}]"
                    row = dict(size=size, dtype=dname, batch=b, frames=t, path=label, max_abs_diff_vs_eager=diff)
                    try:
                        if backend is None:
                            row["ms"] = 1000 * timed(fn, x, pad, args.iters, args.warmup, dev)
                        else:
                            with sdpa_kernel([getattr(SDPBackend, backend)]):
                                row["ms"] = 1000 * timed(fn, x, pad, args.iters, args.warmup, dev)
                    except RuntimeError as err:  # a backend that cannot take these inputs
                        row["error"] = str(err).splitlines()[0][:120]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            mod.skip_embed_dim_check = False
    print("| size | dtype | batch x frames | path | fwd+bwd ms | max diff vs eager |")
    print("|---|---|---|---|---:|---:|")
    for r in rows:
        ms = f"{r['ms']:.3f}" if "ms" in r else r.get("error", "")
        print(
            f"| {r['size']} | {r['dtype']} | {r['batch']}x{r['frames']} | {r['path']} | {ms} | "
            f"{r['max_abs_diff_vs_eager']:.2e} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
