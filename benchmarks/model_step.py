"""Benchmark: fwd+bwd time of an AV-HuBERT seq2seq step on CPU, fused SDPA vs eager attention.

Both paths run in the same process on the same model and batch, interleaved, and the last line
prints the ratio eager/sdpa (> 1 means SDPA is faster). Default: base model (12 encoder layers,
768-d, 6 decoder layers), batch 2 x 100 frames of audio+video, ~1-2 min on 2 cores.

    python benchmarks/model_step.py [--size base|tiny] [--batch 2] [--frames 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Dict, Tuple

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import avhubert_ami  # noqa: E402,F401
from avhubert_ami.models.attention import set_attention_impl  # noqa: E402
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig  # noqa: E402
from avhubert_ami.testing.models import SIZES, TINY_DECODER, TINY_ENCODER, av_batch, fake_task  # noqa: E402


def architecture(size: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(encoder, decoder) config fields of ``size``: tiny, base or large."""
    return (TINY_ENCODER, TINY_DECODER) if size == "tiny" else SIZES[size]


def build(size: str, n_target: int = 37, **overrides) -> AVHubertSeq2Seq:
    """A randomly initialised seq2seq model of ``size`` (tiny, base, large); ``overrides`` are further
    ``AVHubertSeq2SeqConfig`` fields (e.g. a preset's model section) and ``n_target`` the target vocabulary."""
    enc, dec = architecture(size)
    # feature_grad_mult=0 (upstream default) unless overridden: front-ends not trained
    cfg = AVHubertSeq2SeqConfig(**{**enc, **dec, **overrides})
    return AVHubertSeq2Seq.build_model(cfg, fake_task(n_target=n_target))


def step(model: AVHubertSeq2Seq, batch) -> float:
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    logits, _ = model(**batch)
    logits.float().log_softmax(-1).mean().backward()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["tiny", "base", "large"], default="base")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--tgt_len", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.size)
    model.train()
    batch = av_batch(batch=args.batch, frames=args.frames, tgt_len=args.tgt_len)
    batch["padding_mask"][:] = False
    times = {"sdpa": [], "eager": []}
    for impl in ("sdpa", "eager"):  # warm-up
        set_attention_impl(model, impl)
        step(model, batch)
    for r in range(args.repeats):
        for impl in ("sdpa", "eager"):
            set_attention_impl(model, impl)
            times[impl].append(step(model, batch))
            print(f"repeat {r} {impl}: {times[impl][-1]:.3f} s", flush=True)
    sdpa, eager = statistics.median(times["sdpa"]), statistics.median(times["eager"])
    print(
        f"{args.size} seq2seq fwd+bwd, batch {args.batch} x {args.frames} frames, AV, "
        f"threads={torch.get_num_threads()}: "
        f"sdpa {sdpa:.3f} s, eager {eager:.3f} s (median of {args.repeats})"
    )
    print(f"eager/sdpa time ratio: {eager / sdpa:.3f}")


if __name__ == "__main__":
    main()
