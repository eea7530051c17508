"""Benchmark: full fine-tuning steps of a preset (``base_ami``/``large_ami``) in fp32, fp16 or bf16.

One step is what fairseq's trainer does per batch with the preset: forward, the preset's criterion
(``hybrid_ctc_attention``: ``(1 - ctc_weight)`` x label-smoothed CE on the decoder + ``ctc_weight`` x CTC on the
encoder's CTC head, ``sentence_avg``), backward, gradient norm, Adam step. Mixed precision is fairseq's own
``FP16Optimizer`` (``common.fp16``/``common.bf16``, as the presets' ``fp16: true``): the model and the batch's
float tensors are cast to half/bfloat16, fp32 master weights live in the optimizer, fp16 uses a dynamic loss scale
(initial 128; an overflow skips the update and is counted), bf16 none. The preset accumulates ``update_freq``
batches per update; here every batch is followed by an optimizer step, so optimizer cost is over-counted
(x update_freq). The encoder is trained (``num_updates`` past ``freeze_finetune_updates``), the model is
randomly initialised with the preset's architecture and training fields (dropout, layerdrop, ctc_head, ...).

Batches are shaped as the AV dataset's collater makes them for the synthetic corpus: audio B x 104 x T (stacked
log-fbank, 25 fps), video B x 1 x T x 88 x 88, ``padding_mask`` B x T, targets sentencepiece ids + eos. Utterance
lengths are drawn (seed 0) from an AMI-IHM-like distribution (assumptions, not measured here): log-normal
durations, median 2.0 s, sigma 0.8, clipped to [1, 15] s (mean 2.7 s, p95 7.3 s; Kaldi's AMI-IHM train segments
average ~2.6 s); 2.5 words/s; 1.4 pieces/word for a 1000-piece unigram model. They are packed as fairseq's
``batch_by_size`` packs the dataset's order (longest first): a batch grows while ``longest x (size + 1) <=
max_tokens``, where ``max_tokens`` (from the preset) counts video frames (the dataset's ``num_tokens`` is its frame
count): 54 batches of 7-160 (mean 56) utterances for base_ami's 4000, 106 of 5-80 for large_ami's 2000. The timed
steps use batches drawn at random (seed 0) from that packing; every configuration sees the same sequence.
Frames/s counts unpadded frames.

    python benchmarks/gpu_step.py --plan issue14 --device cuda --json out.json
    python benchmarks/gpu_step.py --device cpu --size tiny --dtype bf16 --attn both --steps 2 --warmup 1
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import os
import statistics
import sys
import time
import traceback
import types
from typing import Any, Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


#: modules fairseq imports at module level only for tasks/criteria this benchmark does not use
#: (``audio_classification``: ``sklearn.metrics``; ``sentence_prediction``: ``sklearn.metrics``, ``scipy.stats``)
_UNUSED_BY_US = {"sklearn": "metrics", "scipy": "stats"}


def _stand_ins_for_unused_packages() -> None:
    """Where scikit-learn or scipy is not installed (the GPU machine: their wheels would not fit the transfer),
    put empty stand-ins in ``sys.modules`` so that fairseq imports; any of their names raises when called."""

    def missing(name: str):
        if name.startswith("__"):  # module protocol (__file__, __path__, ...): absent, as on a real module
            raise AttributeError(name)

        def call(*args, **kwargs):
            raise RuntimeError(f"{name}: this package is not installed (benchmarks/gpu_step.py stand-in)")

        return call

    for package, sub in _UNUSED_BY_US.items():
        if importlib.util.find_spec(package) is not None:
            continue
        top, child = types.ModuleType(package), types.ModuleType(f"{package}.{sub}")
        child.__getattr__ = missing
        setattr(top, sub, child)
        sys.modules.update({package: top, f"{package}.{sub}": child})


_stand_ins_for_unused_packages()

from model_step import architecture, build  # noqa: E402

from avhubert_ami.criterions.hybrid_ctc import HybridCTCAttentionCriterion  # noqa: E402
from avhubert_ami.models.attention import set_attention_impl  # noqa: E402
from avhubert_ami.testing.models import fake_task  # noqa: E402
from avhubert_ami.training.presets import load_finetune_preset  # noqa: E402

FPS = 25
AUDIO_DIM = 104
IMAGE = 88
VOCAB = 1000  # sentencepiece pieces (avhubert-tokenizer's default); the dictionary adds 4 specials
# AMI-IHM-like utterance lengths (assumed; see the module docstring)
DUR_MEDIAN_S, DUR_SIGMA, DUR_MIN_S, DUR_MAX_S = 2.0, 0.8, 1.0, 15.0
WORDS_PER_S, PIECES_PER_WORD = 2.5, 1.4
N_UTTERANCES = 3000
PRESET_OF_SIZE = {"tiny": "base_ami", "base": "base_ami", "large": "large_ami"}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

#: the issue-14 matrix: (size, dtypes, attention impls, warmup, steps)
PLANS = {
    "issue14": [
        ("base", ("fp32", "fp16", "bf16"), ("sdpa", "eager"), 3, 10),
        ("large", ("fp16", "bf16"), ("sdpa", "eager"), 1, 5),
    ],
    "tiny": [("tiny", ("fp32", "fp16", "bf16"), ("sdpa", "eager"), 1, 1)],
}


def load_preset(name: str) -> Dict[str, Any]:
    """The preset ``conf/finetune/<name>.yaml`` as a plain dict."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(load_finetune_preset(name))


def model_overrides(preset: Dict[str, Any], size: str) -> Dict[str, Any]:
    """The preset's model fields minus the architecture (which comes from ``size``) and the checkpoint path."""
    enc, dec = architecture(size)
    skip = {"_name", "w2v_path", *enc, *dec}
    return {k: v for k, v in preset["model"].items() if k not in skip}


def utterance_lengths(n: int = N_UTTERANCES, seed: int = 0) -> List[tuple]:
    """``(frames, target pieces)`` of ``n`` AMI-like utterances (target pieces exclude eos)."""
    rng = np.random.default_rng(seed)
    dur = np.clip(rng.lognormal(math.log(DUR_MEDIAN_S), DUR_SIGMA, n), DUR_MIN_S, DUR_MAX_S)
    words = np.maximum(1, rng.poisson(dur * WORDS_PER_S))
    pieces = np.maximum(1, np.round(words * PIECES_PER_WORD)).astype(int)
    return [(int(round(d * FPS)), int(p)) for d, p in zip(dur, pieces)]


def pack(lengths: List[tuple], max_tokens: int) -> List[List[tuple]]:
    """fairseq ``batch_by_size`` on the dataset's order (longest first): a batch is full when one more
    utterance would make ``longest x size`` exceed ``max_tokens`` (in frames)."""
    batches, cur = [], []
    for item in sorted(lengths, key=lambda x: -x[0]):
        longest = max([item[0]] + [x[0] for x in cur])
        if cur and longest * (len(cur) + 1) > max_tokens:
            batches.append(cur)
            cur = []
        cur.append(item)
    if cur:
        batches.append(cur)
    return batches


def make_batch(items: List[tuple], n_dict: int, pad: int = 1, eos: int = 2, seed: int = 0) -> Dict[str, Any]:
    """A collated sample (the dataset collater's layout) for ``(frames, pieces)`` items, random contents."""
    g = torch.Generator().manual_seed(seed)
    bsz, size = len(items), max(f for f, _ in items)
    frames = torch.tensor([f for f, _ in items])
    padding_mask = torch.arange(size)[None, :] >= frames[:, None]
    audio = torch.randn(bsz, size, AUDIO_DIM, generator=g).masked_fill(padding_mask[..., None], 0)
    video = torch.randn(bsz, size, IMAGE, IMAGE, generator=g).masked_fill(padding_mask[..., None, None], 0)
    tlen = max(p for _, p in items) + 1
    target = torch.full((bsz, tlen), pad, dtype=torch.long)
    prev = torch.full((bsz, tlen), pad, dtype=torch.long)
    for i, (_, p) in enumerate(items):
        ids = torch.randint(4, n_dict, (p,), generator=g)
        target[i, :p], target[i, p] = ids, eos
        prev[i, 0], prev[i, 1 : p + 1] = eos, ids
    return {
        "net_input": {
            "source": {
                "audio": audio.transpose(1, 2).contiguous(),  # B x F x T
                "video": video.unsqueeze(1),  # B x 1 x T x H x W
                "present": torch.ones(bsz, 2, dtype=torch.bool),
            },
            "padding_mask": padding_mask,
            "prev_output_tokens": prev,
        },
        "target": target,
        "target_lengths": torch.tensor([p + 1 for _, p in items]),
        "ntokens": int(sum(p + 1 for _, p in items)),
    }


def to_device(sample: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Move tensors to ``device``; float tensors also cast to ``dtype`` (fairseq's ``_prepare_sample``)."""
    if torch.is_tensor(sample):
        sample = sample.to(device, non_blocking=True)
        return sample.to(dtype) if sample.is_floating_point() else sample
    if isinstance(sample, dict):
        return {k: to_device(v, device, dtype) for k, v in sample.items()}
    return sample


def build_optimizer(preset: Dict[str, Any], dtype: str, params: List[torch.nn.Parameter], device: torch.device):
    """The preset's Adam as fairseq's trainer builds it: plain for fp32, ``FP16Optimizer`` (fp32 master
    weights; dynamic loss scale for fp16, none for bf16) for fp16/bf16. On CPU the fp16 master weights are
    kept unflattened (fairseq's flattened copy is allocated on the current CUDA device)."""
    from fairseq import optim
    from fairseq.dataclass.configs import CommonConfig
    from omegaconf import OmegaConf

    common = OmegaConf.structured(CommonConfig)
    common.fp16, common.bf16 = dtype == "fp16", dtype == "bf16"
    common.fp16_no_flatten_grads = device.type != "cuda"
    cfg = OmegaConf.create(
        {
            "common": common,
            "optimization": {"lr": preset["optimization"]["lr"], "update_freq": preset["optimization"]["update_freq"]},
            "distributed_training": {"distributed_world_size": 1},
            "optimizer": preset["optimizer"],
        }
    )
    if dtype == "fp32":
        return optim.build_optimizer(cfg.optimizer, params)
    return optim.FP16Optimizer.build_optimizer(cfg, params)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_config(
    model, criterion, optimizer, batches, device, dtype: str, attn: str, warmup: int, steps: int
) -> Dict[str, Any]:
    """``warmup`` untimed then ``steps`` timed training steps with attention ``attn``; one result row."""
    set_attention_impl(model, attn)
    row: Dict[str, Any] = {"dtype": dtype, "attn": attn, "steps": steps, "overflow_skips": 0}
    times, losses, frames, tokens, sents = [], [], 0, 0, 0
    for i in range(warmup + steps):
        if i == warmup and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        cpu_sample = batches[i % len(batches)]
        sample = to_device(cpu_sample, device, DTYPES[dtype])
        sync(device)
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss, sample_size, _ = criterion(model, sample)
        optimizer.backward(loss)
        optimizer.multiply_grads(1.0 / float(sample_size))
        try:
            optimizer.clip_grad_norm(0.0)  # fairseq's trainer: the norm is computed (and checked) even unclipped
            optimizer.step()
        except OverflowError:  # fp16 loss scale too high: fairseq skips this update and lowers the scale
            row["overflow_skips"] += 1
            optimizer.zero_grad()
        sync(device)
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
            losses.append(float(loss.detach().float()) / float(sample_size))
            frames += int((~cpu_sample["net_input"]["padding_mask"]).sum())
            tokens += cpu_sample["ntokens"]
            sents += len(cpu_sample["target"])
    if not steps:  # priming pass: nothing timed
        return row
    total = sum(times)
    row.update(
        median_step_s=statistics.median(times),
        frames_per_s=frames / total,
        tokens_per_s=tokens / total,
        sentences=sents,
        loss=losses[-1],
        loss_finite=all(math.isfinite(x) for x in losses),
    )
    if device.type == "cuda":
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def bench_size(
    size: str, dtypes, attns, warmup: int, steps: int, device: torch.device, max_tokens: int = 0
) -> List[Dict[str, Any]]:
    """Rows for every (dtype, attention) of ``size``; a failing configuration yields a row with ``error``.
    ``max_tokens`` (frames per batch) replaces the preset's when > 0 (CPU tests)."""
    preset_name = PRESET_OF_SIZE[size]
    preset = load_preset(preset_name)
    max_tokens = max_tokens or int(preset["dataset"]["max_tokens"])
    packed = pack(utterance_lengths(), max_tokens)
    rng = np.random.default_rng(0)
    picks = [packed[j] for j in rng.choice(len(packed), size=min(len(packed), warmup + steps), replace=False)]
    n_dict = VOCAB + 4
    batches = [make_batch(items, n_dict, seed=k) for k, items in enumerate(picks)]
    print(
        f"[{size}] preset {preset_name}: max_tokens {max_tokens} frames, {len(packed)} batches from "
        f"{N_UTTERANCES} utterances, mean batch {N_UTTERANCES / len(packed):.1f} utterances",
        flush=True,
    )
    crit = preset["criterion"]
    task = fake_task(n_target=VOCAB)
    rows = []
    for dtype in dtypes:
        model = optimizer = None
        try:
            torch.manual_seed(0)
            model = build(size, n_target=VOCAB, **model_overrides(preset, size))
            model.set_num_updates(int(preset["model"].get("freeze_finetune_updates", 0)) + 1)
            model.train()
            model = model.to(device=device, dtype=DTYPES[dtype])
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = build_optimizer(preset, dtype, params, device)
            criterion = HybridCTCAttentionCriterion(
                task,
                sentence_avg=bool(preset["optimization"].get("sentence_avg", True)),
                label_smoothing=float(crit["label_smoothing"]),
                report_accuracy=bool(crit.get("report_accuracy", False)),
                ctc_weight=float(crit.get("ctc_weight", 0.0)),
            )
        except Exception as err:  # e.g. OOM while building: every row of this dtype records it
            rows += [_error_row(size, dtype, a, err) for a in attns]
            del model, optimizer
            _free(device)
            continue
        n_params = sum(p.numel() for p in model.parameters())
        try:  # untimed pass over every batch shape first: else the first configuration alone pays each new shape's
            # one-time costs (cuDNN plans for the video front-end's convolutions, allocator growth) - measured: the
            # first of sdpa/eager looked 2.5x (base) to 16x (large, one step) slower, whichever ran first
            print(f"[{size}] {dtype}: priming {len(batches)} batch shapes (untimed) ...", flush=True)
            run_config(model, criterion, optimizer, batches, device, dtype, attns[0], len(batches), 0)
        except Exception as err:  # recorded by the configurations below, which hit it again
            print(f"   priming failed: {type(err).__name__}: {str(err)[:200]}", flush=True)
            optimizer.zero_grad()
            _free(device)
        for attn in attns:
            print(f"[{size}] {dtype} {attn}: {warmup} warmup + {steps} timed steps ...", flush=True)
            try:
                row = run_config(model, criterion, optimizer, batches, device, dtype, attn, warmup, steps)
            except Exception as err:  # OOM, non-finite loss in a kernel, ...: recorded, the plan goes on
                row = _error_row(size, dtype, attn, err)
            if "error" in row:  # outside the except block: its traceback (holding the step's tensors) is gone
                optimizer.zero_grad()
                _free(device)
            row.update(size=size, preset=preset_name, max_tokens=max_tokens, params_m=n_params / 1e6)
            print("   " + json.dumps(row), flush=True)
            rows.append(row)
        del model, optimizer
        _free(device)
    return rows


def _error_row(size: str, dtype: str, attn: str, err: BaseException) -> Dict[str, Any]:
    traceback.print_exc()
    return {"size": size, "dtype": dtype, "attn": attn, "error": f"{type(err).__name__}: {str(err)[:200]}"}


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def markdown(rows: List[Dict[str, Any]]) -> str:
    """The result rows as a markdown table."""
    head = (
        "| size | dtype | attn | median step s | frames/s | tokens/s | peak GiB | loss finite | "
        "fp16 skips | note |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['size']} | {r['dtype']} | {r['attn']} | - | - | - | - | - | - | {r['error']} |")
            continue
        mem = f"{r['peak_mem_gib']:.1f}" if "peak_mem_gib" in r else "-"
        lines.append(
            f"| {r['size']} | {r['dtype']} | {r['attn']} | {r['median_step_s']:.3f} | {r['frames_per_s']:.0f} | "
            f"{r['tokens_per_s']:.0f} | {mem} | {r['loss_finite']} | {r['overflow_skips']} | "
            f"{r['steps']} steps |"
        )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", choices=sorted(PLANS), help="run a fixed matrix (overrides size/dtype/attn/steps)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", choices=["tiny", "base", "large"], default="base")
    ap.add_argument("--dtype", choices=[*DTYPES, "all"], default="fp16")
    ap.add_argument("--attn", choices=["sdpa", "eager", "both"], default="both")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps_scale", type=float, default=1.0, help="multiply a plan's steps/warmup (CPU tests: 0)")
    ap.add_argument("--max_tokens", type=int, default=0, help="frames per batch (0: the preset's; CPU tests: small)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--json", help="write the rows (and environment) here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.plan:
        plan = [
            (s, d, a, max(0, round(w * args.steps_scale)), max(1, round(n * args.steps_scale)))
            for s, d, a, w, n in PLANS[args.plan]
        ]
    else:
        dtypes = tuple(DTYPES) if args.dtype == "all" else (args.dtype,)
        attns = ("sdpa", "eager") if args.attn == "both" else (args.attn,)
        plan = [(args.size, dtypes, attns, args.warmup, args.steps)]
    env = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,  # torch defaults, as fairseq leaves them
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "plan": args.plan,
    }
    print(json.dumps(env), flush=True)
    t0 = time.perf_counter()
    rows = []
    for size, dtypes, attns, warmup, steps in plan:
        rows += bench_size(size, dtypes, attns, warmup, steps, device, args.max_tokens)
    env["wall_s"] = time.perf_counter() - t0
    table = markdown(rows)
    print(table, flush=True)
    print(f"total {env['wall_s']:.0f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, "rows": rows, "markdown": table}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
