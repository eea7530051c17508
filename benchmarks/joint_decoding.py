"""Benchmark: joint CTC/attention beam search vs attention-only, same model and batches, on CPU.

Builds a model of the demo's size (``conf/finetune/tiny_cpu.yaml``: 2 x 128-d encoder, 1 decoder layer)
with a CTC head, random weights, and random audio-visual batches of demo-like lengths (2-4 s at 25 fps).
A random model's hypotheses have arbitrary lengths, which would make the two searches run different
numbers of steps; by default every hypothesis is forced to exactly ``--tokens`` tokens (min_len =
max_len), so the ratio measures the cost per search step. ``--free_length`` lets the searches stop on
their own instead. Encoding is included in both timings (it is part of a real decode).

    python benchmarks/joint_decoding.py [--beams 5 20] [--utts 32] [--batch 8] [--vocab 100] [--ctc_weight 0.3]

Prints, per beam size, the wall and CPU seconds of each search (medians of ``--repeats`` interleaved runs)
and the ratios joint / attention-only; the last line gives the CPU-time ratios, which stay comparable on a
shared machine (the issue's target: <= 1.5 at beam 5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Dict, List, Tuple

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import avhubert_ami  # noqa: E402,F401
from avhubert_ami.decoding.generator import AVSequenceGenerator  # noqa: E402
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig  # noqa: E402
from avhubert_ami.testing.models import demo_model_config, fake_task  # noqa: E402


def build_model(vocab: int) -> AVHubertSeq2Seq:
    """Demo-sized seq2seq with a CTC head, random weights, eval mode."""
    torch.manual_seed(0)
    cfg = AVHubertSeq2SeqConfig(**demo_model_config())
    return AVHubertSeq2Seq.build_model(cfg, fake_task(n_target=vocab - 4)).eval()


def make_batches(n_utts: int, batch: int, crop: int, seed: int = 0) -> List[Dict]:
    """Random audio-visual batches, 50-100 frames per utterance (2-4 s), padded per batch."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(50, 101, (n_utts,), generator=g).tolist()
    out = []
    for start in range(0, n_utts, batch):
        lens = lengths[start : start + batch]
        t = max(lens)
        pad = torch.arange(t).unsqueeze(0) >= torch.tensor(lens).unsqueeze(1)
        source = {
            "audio": torch.randn(len(lens), 104, t, generator=g),
            "video": torch.randn(len(lens), 1, t, crop, crop, generator=g),
            "present": torch.ones(len(lens), 2, dtype=torch.bool),
        }
        out.append({"id": torch.arange(start, start + len(lens)), "net_input": {"source": source, "padding_mask": pad}})
    return out


def decode_all(gen: AVSequenceGenerator, model, batches: List[Dict]) -> Tuple[float, float]:
    """(wall, CPU) seconds to decode ``batches`` (CPU time of this process: robust on a shared machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for b in batches:
            gen.generate([model], b)
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beams", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--utts", type=int, default=32, help="utterances decoded per run")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=100, help="dictionary size (the demo's sentencepiece: ~100)")
    ap.add_argument("--crop", type=int, default=44, help="video crop (the demo: 88 pooled to 44)")
    ap.add_argument("--tokens", type=int, default=15, help="hypothesis length forced in both searches")
    ap.add_argument("--free_length", action="store_true", help="let the searches choose their lengths")
    ap.add_argument("--ctc_weight", type=float, default=0.3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build_model(args.vocab)
    batches = make_batches(args.utts, args.batch, args.crop)
    tgt = model.decoder.dictionary
    length = dict(
        max_len_a=0.0,
        max_len_b=args.tokens + (0 if not args.free_length else 10),
        min_len=1 if args.free_length else args.tokens,
    )
    print(
        f"model: demo size (tiny_cpu), vocab {len(tgt)}; {args.utts} utterances of 50-100 frames in batches of "
        f"{args.batch}; {'free length' if args.free_length else f'{args.tokens} tokens per hypothesis'}; "
        f"ctc_weight {args.ctc_weight}; torch threads {torch.get_num_threads()}",
        flush=True,
    )
    ratios = {}
    for beam in args.beams:
        gens = {
            "attention": AVSequenceGenerator([model], tgt, beam_size=beam, **length),
            "joint": AVSequenceGenerator([model], tgt, beam_size=beam, ctc_weight=args.ctc_weight, **length),
        }
        for g in gens.values():  # warm-up
            decode_all(g, model, batches[:1])
        times = {k: [] for k in gens}
        for _ in range(args.repeats):  # interleaved: load changes on a shared machine hit both alike
            for k, g in gens.items():
                times[k].append(decode_all(g, model, batches))
        (att, att_cpu), (joint, joint_cpu) = ([statistics.median(x) for x in zip(*times[k])] for k in gens)
        ratios[beam] = joint_cpu / att_cpu
        print(
            f"beam {beam:3d}: attention-only {att:.3f} s wall / {att_cpu:.3f} s CPU, joint CTC/attention "
            f"{joint:.3f} s wall / {joint_cpu:.3f} s CPU (medians of {args.repeats}); ratio {joint / att:.2f}x wall, "
            f"{joint_cpu / att_cpu:.2f}x CPU",
            flush=True,
        )
    print("joint/attention CPU-time ratio: " + ", ".join(f"beam {b}: {r:.2f}x" for b, r in ratios.items()))


if __name__ == "__main__":
    main()
