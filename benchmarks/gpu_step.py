"""Benchmark: full fine-tuning updates of a preset (``base_ami``/``large_ami``), speed options one by one and
together, model FLOPs utilisation, and upstream AV-HuBERT's own model code on the same batches.

One update is what fairseq's trainer does with the preset: ``update_freq`` batches each through forward, the preset's
criterion (``hybrid_ctc_attention``: ``(1 - ctc_weight)`` x label-smoothed CE on the decoder + ``ctc_weight`` x CTC
on the encoder's CTC head, ``sentence_avg``) and backward, then the gradients scaled by 1 / (the update's sample
size), their norm, and one optimizer step. Mixed precision is fairseq's own ``FP16Optimizer`` (``common.fp16``/
``common.bf16``, as the presets' ``fp16: true``): the model and the batch's float tensors are cast to half/bfloat16,
fp32 master weights live in the optimizer (one flat tensor for fp16, one per parameter for bf16), fp16 uses a
dynamic loss scale (initial 128; an overflow skips the update and is counted), bf16 none. The encoder is trained
(``num_updates`` past ``freeze_finetune_updates``); models are randomly initialised with the preset's architecture
and training fields (dropout, layerdrop, ctc_head, ...).

Batches are shaped as the AV dataset's collater makes them: audio B x 104 x T (stacked log-fbank, 25 fps), video
B x 1 x T x 88 x 88, ``padding_mask`` B x T, targets sentencepiece ids + eos. Utterance lengths are drawn (seed 0)
from an AMI-IHM-like distribution (assumptions, not measured here): log-normal durations, median 2.0 s, sigma 0.8,
clipped to [1, 15] s (mean 2.7 s, p95 7.3 s; Kaldi's AMI-IHM train segments average ~2.6 s); 2.5 words/s;
1.4 pieces/word for a 1000-piece unigram model. They are packed as fairseq's ``batch_by_size`` packs the dataset's
order (longest first; ``max_tokens`` counts video frames): 54 batches of 7-160 (mean 56) utterances for base_ami's
4000, 106 of 5-80 for large_ami's 2000 -- or, for the ``buckets`` variants, as ``task.length_buckets`` and
``task.pad_to_bucket`` batch them. The timed updates use batches drawn at random (seed 0) from that packing; every
variant with the same packing sees the same batches. Frames/s counts unpadded frames.

Variants (:data:`VARIANTS`): ``baseline`` (the preset as it is), each speed option on its own (the model fields of
:mod:`avhubert_ami.models.speed`, ``optimizer._name=adam_fused``, length buckets, twice the ``max_tokens`` with half
the ``update_freq``, i.e. the same frames per update), ``all_eager`` (all of them but compiling) and ``all``; with
``--upstream DIR`` also ``upstream``: upstream AV-HuBERT's model code from a checkout the user fetched
(:mod:`benchmarks.upstream_avhubert`), beside ``baseline_noctc`` (ours with upstream's loss: no CTC term). Every
variant of one size and dtype runs on one model in one process, one after another.

Before a variant is timed, every batch it will use runs once untimed (its one-time costs: cuDNN plans, autotuning,
compiling, allocator growth; ``prime_s`` reports them); the first time a batch is used, that pass also counts its
FLOPs (``torch.utils.flop_counter``: forward and backward of what is trained, every layer executed), less the
expected share of the layers layerdrop skips (analytic per-layer FLOPs, :func:`encoder_layer_flops`). MFU is those
FLOPs per second over the card's dense peak for the dtype (:data:`PEAK_TFLOPS`, from NVIDIA's data sheets; printed;
n/a on a CPU or an unknown card, or give ``--peak_tflops``).

    python benchmarks/gpu_step.py --plan issue23 --device cuda --json $OUT/issue23.json --upstream .upstream/av_hubert
    python benchmarks/gpu_step.py --plan issue14 --device cuda --json out.json
    python benchmarks/gpu_step.py --device cpu --size tiny --dtype bf16 --variants baseline,bool_sdpa --steps 2
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import traceback
import types
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


#: modules fairseq imports at module level only for tasks/criteria this benchmark does not use
#: (``audio_classification``: ``sklearn.metrics``; ``sentence_prediction``: ``sklearn.metrics``, ``scipy.stats``)
_UNUSED_BY_US = {"sklearn": "metrics", "scipy": "stats"}


def _stand_ins_for_unused_packages() -> None:
    """Where scikit-learn or scipy is not installed, put empty stand-ins in ``sys.modules`` so that fairseq imports;
    any of their names raises when called."""

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
from avhubert_ami.files import atomic_write  # noqa: E402
from avhubert_ami.models import speed  # noqa: E402
from avhubert_ami.tasks.length_buckets import (  # noqa: E402
    TARGET_MULTIPLE,
    bucket_batches,
    bucket_bounds,
    bucket_of,
    bucket_order,
)
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
BUCKETS = 24  # task.length_buckets of the bucket variants

#: Dense (no sparsity) peak TFLOP/s per card, from NVIDIA's data sheets, which quote the tensor-core rates "with
#: sparsity": the dense rate is half of that. First match of the pattern in torch.cuda.get_device_name() wins.
#: H100/H200: "NVIDIA H100 Tensor Core GPU" datasheet (SXM: FP16/BF16 1,979, TF32 989, FP32 67; PCIe: 1,513, 756,
#: 51; NVL: 1,671, 835, 60) and "NVIDIA H200 Tensor Core GPU" datasheet (SXM as H100 SXM; NVL as H100 NVL);
#: A100: "NVIDIA A100 Tensor Core GPU" datasheet (40 and 80 GB, SXM and PCIe: FP16/BF16 624, TF32 312, FP32 19.5);
#: L40S: datasheet (FP16/BF16 733, TF32 366, FP32 91.6); L40: datasheet (362.1, 181, 90.5); L4: datasheet (242,
#: 120, 30.3); A10: datasheet (250, 125, 31.2); V100: datasheet (FP16 tensor 125 SXM2 / 112 PCIe, dense; FP32 15.7
#: / 14; no BF16/TF32); T4: datasheet (FP16 65 mixed precision, FP32 8.1).
PEAK_TFLOPS: List[Tuple[str, Dict[str, float]]] = [
    (r"H100.*NVL", {"fp16": 835.5, "bf16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    (r"H100.*PCIe", {"fp16": 756.5, "bf16": 756.5, "tf32": 378.0, "fp32": 51.0}),
    (r"H100", {"fp16": 989.5, "bf16": 989.5, "tf32": 494.5, "fp32": 67.0}),
    (r"H200.*NVL", {"fp16": 835.5, "bf16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    (r"H200", {"fp16": 989.5, "bf16": 989.5, "tf32": 494.5, "fp32": 67.0}),
    (r"A100", {"fp16": 312.0, "bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    (r"L40S", {"fp16": 366.5, "bf16": 366.5, "tf32": 183.0, "fp32": 91.6}),
    (r"L40\b", {"fp16": 181.05, "bf16": 181.05, "tf32": 90.5, "fp32": 90.5}),
    (r"\bL4\b", {"fp16": 121.0, "bf16": 121.0, "tf32": 60.0, "fp32": 30.3}),
    (r"\bA10\b", {"fp16": 125.0, "bf16": 125.0, "tf32": 62.5, "fp32": 31.2}),
    (r"V100.*SXM", {"fp16": 125.0, "fp32": 15.7}),
    (r"V100", {"fp16": 112.0, "fp32": 14.0}),
    (r"\bT4\b", {"fp16": 65.0, "fp32": 8.1}),
]


def peak_tflops(device_name: str, dtype: str, tf32: bool = False) -> Optional[float]:
    """Dense peak TFLOP/s of ``device_name`` for ``dtype`` (fp32 with ``tf32``: the TF32 tensor-core rate); None for a
    CPU or a card not in :data:`PEAK_TFLOPS`."""
    key = "tf32" if dtype == "fp32" and tf32 else dtype
    for pattern, peaks in PEAK_TFLOPS:
        if re.search(pattern, device_name):
            return peaks.get(key)
    return None


#: speed options of each variant: model fields (avhubert_ami.models.speed), ``optimizer``, ``length_buckets``
#: (+ ``pad_to_bucket``), ``max_tokens_scale`` (update_freq shrinks by the same factor), ``ctc`` (False: no CTC term)
SPEED_FIELDS = ("attention_impl", "video_channels_last", "cudnn_benchmark", "compile_layers")
_ALL_EAGER = dict(
    attention_impl="bool_sdpa",
    video_channels_last=True,
    cudnn_benchmark=True,
    optimizer="adam_fused",
    length_buckets=BUCKETS,
    pad_to_bucket=True,
    max_tokens_scale=2,
)
VARIANTS: Dict[str, Dict[str, Any]] = {
    "baseline": {},
    "eager": {"attention_impl": "eager"},
    "bool_sdpa": {"attention_impl": "bool_sdpa"},
    "channels_last": {"video_channels_last": True},
    "cudnn_benchmark": {"cudnn_benchmark": True},
    "channels_last_cudnn": {"video_channels_last": True, "cudnn_benchmark": True},
    "adam_fused": {"optimizer": "adam_fused"},
    "buckets": {"length_buckets": BUCKETS, "pad_to_bucket": True},
    "buckets_cudnn": {"length_buckets": BUCKETS, "pad_to_bucket": True, "cudnn_benchmark": True},
    "max_tokens_x2": {"max_tokens_scale": 2},
    "compile": {"compile_layers": True},
    "all_eager": _ALL_EAGER,
    "all": dict(_ALL_EAGER, compile_layers=True),
    "baseline_noctc": {"ctc": False},
    "upstream": {"ctc": False, "model_code": "upstream"},
}
_SINGLE = [
    "baseline",
    "bool_sdpa",
    "channels_last",
    "cudnn_benchmark",
    "channels_last_cudnn",
    "adam_fused",
    "buckets",
    "buckets_cudnn",
    "max_tokens_x2",
    "all_eager",
]


class Run(NamedTuple):
    """One entry of a plan: these variants of ``size`` in each of ``dtypes``, ``warmup`` + ``steps`` updates each."""

    size: str
    dtypes: Tuple[str, ...]
    variants: Tuple[str, ...]
    warmup: int
    steps: int
    update_freq: Optional[int] = None  # None: the preset's (issue14 measured an optimizer step after every batch)


#: Plans, in the order they run; ``issue23`` puts what matters most first (fp16, then upstream, then bf16, then the
#: compiled variants, which compile for a minute or more each), since ``--deadline_s`` stops it where time runs out.
PLANS: Dict[str, List[Run]] = {
    "issue14": [
        Run("base", ("fp32", "fp16", "bf16"), ("baseline", "eager"), 3, 10, update_freq=1),
        Run("large", ("fp16", "bf16"), ("baseline", "eager"), 1, 5, update_freq=1),
    ],
    "issue23": [
        Run("base", ("fp16",), (*_SINGLE, "baseline_noctc"), 1, 6),
        Run("base", ("fp16",), ("upstream",), 1, 6),
        Run("large", ("fp16",), (*_SINGLE, "baseline_noctc"), 1, 4),
        Run("large", ("fp16",), ("upstream",), 1, 4),
        Run("base", ("bf16",), (*_SINGLE, "baseline_noctc"), 1, 6),
        Run("base", ("bf16",), ("upstream",), 1, 6),
        Run("large", ("bf16",), (*_SINGLE, "baseline_noctc"), 1, 4),
        Run("large", ("bf16",), ("upstream",), 1, 4),
        Run("base", ("fp16",), ("compile", "all"), 1, 6),
        Run("large", ("fp16",), ("all",), 1, 4),
        Run("base", ("bf16",), ("all",), 1, 6),
        Run("large", ("bf16",), ("all",), 1, 4),
    ],
    "tiny": [Run("tiny", ("fp32", "fp16", "bf16"), ("baseline", "eager"), 1, 1)],
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


def pack_buckets(lengths: List[tuple], max_tokens: int, n_buckets: int) -> Tuple[List[List[tuple]], List[int]]:
    """The batches ``task.length_buckets`` makes of ``lengths`` (one epoch, seed 0) and the frames each is padded to
    with ``task.pad_to_bucket`` (its bucket's bound)."""
    sizes = np.array([f for f, _ in lengths])
    bounds = bucket_bounds(sizes, n_buckets)
    buckets = bucket_of(sizes, bounds)
    batches = bucket_batches(bucket_order(buckets, np.random.RandomState(0)), buckets, bounds, max_tokens)
    return [[lengths[i] for i in b] for b in batches], [int(bounds[buckets[b[0]]]) for b in batches]


def make_batch(
    items: List[tuple], n_dict: int, pad: int = 1, eos: int = 2, seed: int = 0, frames: int = 0, target_multiple=1
) -> Dict[str, Any]:
    """A collated sample (the dataset collater's layout) for ``(frames, pieces)`` items, random contents; padded to
    ``frames`` frames when larger than the longest item, targets to a multiple of ``target_multiple``."""
    g = torch.Generator().manual_seed(seed)
    bsz, size = len(items), max([f for f, _ in items] + [frames])
    lengths = torch.tensor([f for f, _ in items])
    padding_mask = torch.arange(size)[None, :] >= lengths[:, None]
    audio = torch.randn(bsz, size, AUDIO_DIM, generator=g).masked_fill(padding_mask[..., None], 0)
    video = torch.randn(bsz, size, IMAGE, IMAGE, generator=g).masked_fill(padding_mask[..., None, None], 0)
    tlen = max(p for _, p in items) + 1
    tlen += -tlen % target_multiple
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


def build_optimizer(
    preset: Dict[str, Any], dtype: str, params: List[torch.nn.Parameter], device: torch.device, name: str = ""
):
    """The preset's Adam (or ``name``, e.g. ``adam_fused``) as fairseq's trainer builds it: plain for fp32,
    ``FP16Optimizer`` (fp32 master weights; dynamic loss scale for fp16, none for bf16) for fp16/bf16. On CPU the
    fp16 master weights are kept unflattened (fairseq's flattened copy is allocated on the current CUDA device)."""
    from fairseq import optim
    from fairseq.dataclass.configs import CommonConfig
    from omegaconf import OmegaConf

    common = OmegaConf.structured(CommonConfig)
    common.fp16, common.bf16 = dtype == "fp16", dtype == "bf16"
    common.fp16_no_flatten_grads = device.type != "cuda"
    optimizer = dict(preset["optimizer"])
    if name:
        optimizer["_name"] = name
    cfg = OmegaConf.create(
        {
            "common": common,
            "optimization": {"lr": preset["optimization"]["lr"], "update_freq": preset["optimization"]["update_freq"]},
            "distributed_training": {"distributed_world_size": 1},
            "optimizer": optimizer,
        }
    )
    if dtype == "fp32":
        return optim.build_optimizer(cfg.optimizer, params)
    return optim.FP16Optimizer.build_optimizer(cfg, params)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---- FLOPs -------------------------------------------------------------------------------------------------------
def encoder_layer_flops(bsz: int, frames: int, dim: int, ffn: int) -> int:
    """Forward + backward FLOPs of one trained encoder layer on a ``bsz x frames`` batch, as the flop counter counts
    them: q/k/v/out projections, scores and weighted sum, the feed-forward; backward twice the forward."""
    tokens = bsz * frames
    forward = 2 * tokens * (4 * dim * dim + 2 * dim * ffn) + 4 * bsz * frames * frames * dim
    return 3 * forward


def decoder_layer_flops(bsz: int, tgt: int, src: int, dim: int, ffn: int) -> int:
    """Forward + backward FLOPs of one trained decoder layer (self-attention over ``tgt`` tokens, cross-attention to
    ``src`` encoder frames, feed-forward)."""
    self_attn = 2 * bsz * tgt * 4 * dim * dim + 4 * bsz * tgt * tgt * dim
    cross = 2 * bsz * tgt * 2 * dim * dim + 2 * bsz * src * 2 * dim * dim + 4 * bsz * tgt * src * dim
    return 3 * (self_attn + cross + 4 * bsz * tgt * dim * ffn)


def _layer_stacks(model) -> Tuple[Any, Any]:
    """(encoder transformer, decoder) of ours or upstream's seq2seq (same attribute layout)."""
    return model.encoder.w2v_model.encoder, model.decoder


def expected_layer_skip_flops(model, sample: Dict[str, Any]) -> float:
    """FLOPs layerdrop skips on average for ``sample``: layerdrop x layers x per-layer FLOPs, encoder and decoder."""
    enc, dec = _layer_stacks(model)
    bsz, frames = sample["net_input"]["padding_mask"].shape
    tgt = sample["net_input"]["prev_output_tokens"].size(1)
    skip = 0.0
    if getattr(enc, "layerdrop", 0) and len(enc.layers):
        layer = enc.layers[0]
        skip += (
            enc.layerdrop
            * len(enc.layers)
            * encoder_layer_flops(bsz, frames, layer.embedding_dim, layer.fc1.out_features)
        )
    if getattr(dec, "layerdrop", 0) and len(dec.layers):
        layer = dec.layers[0]
        dim = layer.embed_dim
        skip += dec.layerdrop * len(dec.layers) * decoder_layer_flops(bsz, tgt, frames, dim, layer.fc1.out_features)
    return skip


def count_flops(model, criterion, sample: Dict[str, Any]) -> int:
    """FLOPs of forward + backward of ``criterion(model, sample)`` with every layer executed (layerdrop off), counted
    by ``torch.utils.flop_counter``; the gradients are dropped."""
    from torch.utils.flop_counter import FlopCounterMode

    stacks = [s for s in _layer_stacks(model) if hasattr(s, "layerdrop")]
    saved = [s.layerdrop for s in stacks]
    for s in stacks:
        s.layerdrop = 0.0
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            loss, _, _ = criterion(model, sample)
            loss.float().backward()
        return int(counter.get_total_flops())
    finally:
        for s, p in zip(stacks, saved):
            s.layerdrop = p
        model.zero_grad(set_to_none=True)


# ---- one size x dtype x model code -------------------------------------------------------------------------------
class Packing:
    """The batches of one packing (``max_tokens``, buckets), collated on the CPU, and their counted FLOPs (by model
    code, CTC term or not, batch index)."""

    def __init__(self, batches: List[Dict[str, Any]]) -> None:
        self.batches = batches
        self.flops: Dict[Tuple[str, bool, int], float] = {}


class Context:
    """One model (ours or upstream's) of one size in one dtype, its preset and its packings."""

    def __init__(self, size: str, dtype: str, model_code: str, device: torch.device, args, shared: Dict[str, Any]):
        self.size, self.dtype, self.model_code, self.device, self.args = size, dtype, model_code, device, args
        self.preset_name = PRESET_OF_SIZE[size]
        self.preset = load_preset(self.preset_name)
        self.max_tokens = int(args.max_tokens or self.preset["dataset"]["max_tokens"])
        self.update_freq = int(self.preset["optimization"]["update_freq"][0])
        self.task = fake_task(n_target=VOCAB)
        self.shared = shared  # across contexts: packings (FLOPs are the same in every dtype), our state-dict layout
        torch.manual_seed(0)
        enc, dec = architecture(size)
        overrides = model_overrides(self.preset, size)
        if model_code == "upstream":
            from upstream_avhubert import build_upstream_seq2seq

            model = build_upstream_seq2seq(args.upstream, enc, dec, overrides, self.task.target_dictionary)
        else:
            model = build(size, n_target=VOCAB, **overrides)
        model.set_num_updates(int(self.preset["model"].get("freeze_finetune_updates", 0)) + 1)
        self.model = model.train().to(device=device, dtype=DTYPES[dtype])
        self.params_m = sum(p.numel() for p in self.model.parameters()) / 1e6
        layout = {k: tuple(v.shape) for k, v in self.model.state_dict().items() if not k.startswith("ctc_proj.")}
        key = f"layout:{size}"
        if model_code == "ours":
            shared[key] = layout
        self.same_layout = shared.get(key) == layout if key in shared else None

    def criterion(self, ctc: bool) -> HybridCTCAttentionCriterion:
        crit = self.preset["criterion"]
        return HybridCTCAttentionCriterion(
            self.task,
            sentence_avg=bool(self.preset["optimization"].get("sentence_avg", True)),
            label_smoothing=float(crit["label_smoothing"]),
            report_accuracy=bool(crit.get("report_accuracy", False)),
            ctc_weight=float(crit.get("ctc_weight", 0.0)) if ctc else 0.0,
        )

    def packing(self, max_tokens: int, buckets: int, n_batches: int) -> Packing:
        """``n_batches`` batches drawn (seed 0) from the packing of the utterances by ``max_tokens`` (and buckets)."""
        key = ("packing", self.size, max_tokens, buckets, n_batches)
        if key not in self.shared:
            lengths = utterance_lengths()
            if buckets:
                packed, pad_to = pack_buckets(lengths, max_tokens, buckets)
            else:
                packed, pad_to = pack(lengths, max_tokens), None
            rng = np.random.default_rng(0)
            picks = rng.choice(len(packed), size=n_batches, replace=n_batches > len(packed))
            n_dict = VOCAB + 4
            batches = [
                make_batch(
                    packed[j],
                    n_dict,
                    seed=k,
                    frames=pad_to[j] if pad_to else 0,
                    target_multiple=TARGET_MULTIPLE if buckets else 1,
                )
                for k, j in enumerate(picks)
            ]
            self.shared[key] = Packing(batches)
            print(
                f"[{self.size}] packing max_tokens={max_tokens}{f' buckets={buckets}' if buckets else ''}: "
                f"{len(packed)} batches of {N_UTTERANCES} utterances (mean {N_UTTERANCES / len(packed):.1f}), "
                f"{n_batches} drawn",
                flush=True,
            )
        return self.shared[key]

    def free(self) -> None:
        del self.model
        _free(self.device)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _set_options(ctx: Context, opts: Dict[str, Any]) -> None:
    """Put our model in the variant's speed configuration (upstream's model has none: its own code as it is)."""
    if ctx.model_code == "ours":
        speed.set_speed_options(ctx.model, **{k: opts[k] for k in SPEED_FIELDS if k in opts})
    else:
        torch.backends.cudnn.benchmark = bool(opts.get("cudnn_benchmark", False))


def run_variant(ctx: Context, variant: str, warmup: int, steps: int, update_freq: Optional[int]) -> Dict[str, Any]:
    """Prime, then ``warmup`` untimed and ``steps`` timed updates of ``variant``; one result row."""
    opts = VARIANTS[variant]
    scale = int(opts.get("max_tokens_scale", 1))
    uf = int(update_freq or ctx.update_freq)
    max_tokens, uf = ctx.max_tokens * scale, max(1, uf // scale) if scale > 1 else uf
    buckets = int(opts.get("length_buckets", 0))
    packing = ctx.packing(max_tokens, buckets, (warmup + steps) * uf)
    batches = packing.batches
    device, dtype, model = ctx.device, ctx.dtype, ctx.model
    row: Dict[str, Any] = {
        "size": ctx.size,
        "preset": ctx.preset_name,
        "dtype": dtype,
        "variant": variant,
        "model_code": ctx.model_code,
        "attn": opts.get("attention_impl", "sdpa"),
        "max_tokens": max_tokens,
        "update_freq": uf,
        "steps": steps,
        "overflow_skips": 0,
        "params_m": ctx.params_m,
    }
    if ctx.same_layout is not None and ctx.model_code == "upstream":
        row["same_layout_as_ours"] = ctx.same_layout
    ctc = bool(opts.get("ctc", True))
    criterion = ctx.criterion(ctc)
    _set_options(ctx, {})  # FLOPs are counted on the plain model (compiled code under the counter is not)
    flops_of = {}
    for k, batch in enumerate(batches):
        key = (ctx.model_code, ctc, k)  # the same in every dtype and speed configuration
        if key not in packing.flops:
            sample = to_device(batch, device, DTYPES[dtype])
            packing.flops[key] = count_flops(model, criterion, sample) - expected_layer_skip_flops(model, sample)
        flops_of[k] = packing.flops[key]
    _set_options(ctx, opts)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(ctx.preset, dtype, params, device, name=opts.get("optimizer", ""))
    # untimed pass over every batch: one-time costs (cuDNN plans and autotuning, compiling, allocator growth) are paid
    # here, else the first variant alone pays them - measured: the first of sdpa/eager looked 2.5x (base) to 16x
    # (large, one step) slower, whichever ran first
    sync(device)
    t0 = time.perf_counter()
    for batch in batches:
        loss, _, _ = criterion(model, to_device(batch, device, DTYPES[dtype]))
        optimizer.backward(loss)
        optimizer.zero_grad()
    sync(device)
    row["prime_s"] = time.perf_counter() - t0
    row["shapes"] = len({tuple(b["net_input"]["padding_mask"].shape) + (b["target"].size(1),) for b in batches})
    if opts.get("compile_layers"):
        compiled = [f for k, f in speed._COMPILED_FORWARD.items() if k.endswith(f"@{device.type}")]
        row["compiled"] = bool(compiled) and all(f not in speed._FORWARDS.values() for f in compiled)
    times, losses, frames, tokens, sents, flops, padded = [], [], 0, 0, 0, 0.0, 0
    for u in range(warmup + steps):
        if u == warmup and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        group = batches[u * uf : (u + 1) * uf]
        samples = [to_device(b, device, DTYPES[dtype]) for b in group]
        sync(device)
        t0 = time.perf_counter()
        optimizer.zero_grad()
        total_loss, total_size = 0.0, 0.0
        for sample in samples:
            loss, sample_size, _ = criterion(model, sample)
            optimizer.backward(loss)
            total_loss, total_size = total_loss + loss.detach().float(), total_size + float(sample_size)
        optimizer.multiply_grads(1.0 / total_size)
        try:
            optimizer.clip_grad_norm(0.0)  # fairseq's trainer: the norm is computed (and checked) even unclipped
            optimizer.step()
            model.set_num_updates(model.num_updates + 1)
        except OverflowError:  # fp16 loss scale too high: fairseq skips this update and lowers the scale
            row["overflow_skips"] += 1
            optimizer.zero_grad()
        sync(device)
        dt = time.perf_counter() - t0
        if u >= warmup:
            times.append(dt)
            losses.append(float(total_loss) / total_size)
            for k, b in enumerate(group, start=u * uf):
                mask = b["net_input"]["padding_mask"]
                frames += int((~mask).sum())
                padded += mask.numel()
                tokens += b["ntokens"]
                sents += len(b["target"])
                flops += flops_of[k]
    del optimizer
    if not steps:  # priming only: nothing timed
        return row
    total = sum(times)
    row.update(
        median_update_s=statistics.median(times),
        frames_per_s=frames / total,
        tokens_per_s=tokens / total,
        frames_per_update=frames / steps,
        padding_frac=1 - frames / padded,
        sentences=sents,
        loss=losses[-1],
        loss_finite=all(math.isfinite(x) for x in losses),
        tflop_per_update=flops / steps / 1e12,
        tflops_per_s=flops / total / 1e12,
    )
    peak = ctx.args.peak_tflops or (
        peak_tflops(torch.cuda.get_device_name(device), dtype, torch.backends.cuda.matmul.allow_tf32)
        if device.type == "cuda"
        else None
    )
    row["peak_tflops"] = peak
    row["mfu"] = row["tflops_per_s"] / peak if peak else None
    if device.type == "cuda":
        row["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def _error_row(ctx_key: Tuple[str, str, str], variant: str, err: BaseException) -> Dict[str, Any]:
    traceback.print_exc()
    size, dtype, code = ctx_key
    row = {"size": size, "dtype": dtype, "variant": variant, "model_code": code}
    row["attn"] = VARIANTS.get(variant, {}).get("attention_impl", "sdpa")
    row["error"] = f"{type(err).__name__}: {str(err)[:300]}"
    return row


def _skipped_row(ctx_key: Tuple[str, str, str], variant: str) -> Dict[str, Any]:
    size, dtype, code = ctx_key
    return {"size": size, "dtype": dtype, "variant": variant, "model_code": code, "skipped": "deadline reached"}


def add_ratios(rows: List[Dict[str, Any]]) -> None:
    """``vs_baseline`` and ``vs_upstream``: frames/s over the same size and dtype's ``baseline``/``upstream`` row."""
    ref = {(r["size"], r["dtype"], r["variant"]): r.get("frames_per_s") for r in rows if "frames_per_s" in r}
    for r in rows:
        if "frames_per_s" not in r:
            continue
        for name, variant in (("vs_baseline", "baseline"), ("vs_upstream", "upstream")):
            other = ref.get((r["size"], r["dtype"], variant))
            r[name] = r["frames_per_s"] / other if other else None


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(rows: List[Dict[str, Any]]) -> str:
    """The result rows as a markdown table."""
    head = (
        "| size | dtype | variant | update s | frames/s | x baseline | x upstream | TFLOP/s | MFU | peak GiB | "
        "prime s | pad | note |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [head]
    for r in rows:
        if "error" in r or "skipped" in r:
            note = r.get("error") or r.get("skipped")
            lines.append(
                f"| {r['size']} | {r['dtype']} | {r['variant']} | - | - | - | - | - | - | - | - | - | {note} |"
            )
            continue
        if "frames_per_s" not in r:
            continue
        note = f"{r['steps']} x {r['update_freq']} batches of <= {r['max_tokens']} frames"
        note += "" if r.get("loss_finite", True) else ", NON-FINITE LOSS"
        note += f", {r['overflow_skips']} fp16 skips" if r.get("overflow_skips") else ""
        note += "" if r.get("compiled", True) else ", compile unavailable: ran uncompiled"
        lines.append(
            f"| {r['size']} | {r['dtype']} | {r['variant']} | {r['median_update_s']:.3f} | {r['frames_per_s']:.0f} | "
            f"{_fmt(r.get('vs_baseline'), '.2f')} | {_fmt(r.get('vs_upstream'), '.2f')} | "
            f"{r['tflops_per_s']:.1f} | {_fmt(r.get('mfu'), '.1%')} | {_fmt(r.get('peak_mem_gib'), '.1f')} | "
            f"{r['prime_s']:.1f} | {r['padding_frac']:.1%} | {note} |"
        )
    return "\n".join(lines)


def _commit() -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=os.path.dirname(__file__)
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device, plan: Optional[str]) -> Dict[str, Any]:
    """What the figures depend on: card, versions, TF32 settings (torch's defaults, as fairseq leaves them)."""
    import platform

    try:
        from importlib.metadata import version

        fairseq_version = version("fairseq-fixed")
    except Exception:  # another distribution of fairseq, or none found
        import fairseq

        fairseq_version = getattr(fairseq, "__version__", "?")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "fairseq": fairseq_version,
        "python": platform.python_version(),
        "device": name,
        "peaks_tflops": next((p for pat, p in PEAK_TFLOPS if re.search(pat, name)), None),
        "threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "plan": plan,
    }


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", choices=sorted(PLANS), help="run a fixed matrix (overrides size/dtype/variants/steps)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", choices=["tiny", "base", "large"], default="base")
    ap.add_argument("--dtype", choices=[*DTYPES, "all"], default="fp16")
    ap.add_argument("--variants", help=f"comma-separated, of: {', '.join(VARIANTS)} (default: from --attn)")
    ap.add_argument("--attn", choices=["sdpa", "eager", "both"], default="both", help="sdpa = baseline; both = both")
    ap.add_argument("--steps", type=int, default=10, help="timed updates per variant")
    ap.add_argument("--warmup", type=int, default=3, help="untimed updates per variant (after the priming pass)")
    ap.add_argument("--update_freq", type=int, default=0, help="batches per update (0: the preset's)")
    ap.add_argument("--steps_scale", type=float, default=1.0, help="multiply a plan's steps/warmup (CPU tests: 0)")
    ap.add_argument("--max_tokens", type=int, default=0, help="frames per batch (0: the preset's; CPU tests: small)")
    ap.add_argument("--upstream", metavar="DIR", help="checkout of facebookresearch/av_hubert: adds its model code")
    ap.add_argument("--peak_tflops", type=float, default=0.0, help="the card's dense peak (0: from the table)")
    ap.add_argument("--deadline_s", type=float, default=0.0, help="start no variant after this many seconds (0: none)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--json", help="write the rows (and environment) here, after every row")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.plan:
        plan = [
            Run(
                r.size,
                r.dtypes,
                r.variants,
                max(0, round(r.warmup * args.steps_scale)),
                max(1, round(r.steps * args.steps_scale)),
                r.update_freq,
            )
            for r in PLANS[args.plan]
        ]
    else:
        dtypes = tuple(DTYPES) if args.dtype == "all" else (args.dtype,)
        if args.variants:
            variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
        else:
            variants = {"sdpa": ("baseline",), "eager": ("eager",), "both": ("baseline", "eager")}[args.attn]
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            ap.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
        plan = [Run(args.size, dtypes, variants, args.warmup, args.steps, args.update_freq or None)]
    if args.upstream:
        from upstream_avhubert import NotAnUpstreamCheckout, upstream_folder

        try:
            upstream_folder(args.upstream)
        except NotAnUpstreamCheckout as err:
            ap.error(str(err))
    elif args.plan:  # a plan's upstream rows need a checkout: without one they are left out
        plan = [
            Run(r.size, r.dtypes, kept, r.warmup, r.steps, r.update_freq)
            for r in plan
            for kept in [tuple(v for v in r.variants if VARIANTS[v].get("model_code") != "upstream")]
            if kept
        ]
    elif any(VARIANTS[v].get("model_code") == "upstream" for r in plan for v in r.variants):
        ap.error("--variants upstream needs --upstream DIR (a checkout of facebookresearch/av_hubert)")
    env = environment(device, args.plan)
    print(json.dumps(env), flush=True)
    result = {
        "kind": "gpu_step_issue23" if args.plan == "issue23" else "gpu_step",
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/gpu_step.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": _commit(),
        "machine": env,
    }
    t_start = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    shared: Dict[str, Any] = {}

    def save() -> None:
        add_ratios(rows)
        result.update(rows=rows, markdown=markdown(rows), wall_s=time.perf_counter() - t_start)
        if args.json:
            with atomic_write(args.json) as f:
                json.dump(result, f, indent=1)

    for run in plan:
        for dtype in run.dtypes:
            groups: Dict[str, List[str]] = {}
            for v in run.variants:
                groups.setdefault(VARIANTS[v].get("model_code", "ours"), []).append(v)
            for code, variants in groups.items():
                ctx_key = (run.size, dtype, code)
                if args.deadline_s and time.perf_counter() - t_start > args.deadline_s:
                    rows += [_skipped_row(ctx_key, v) for v in variants]
                    save()
                    continue
                try:
                    print(f"[{run.size}] {dtype} {code}: building the model ...", flush=True)
                    ctx = Context(run.size, dtype, code, device, args, shared)
                except Exception as err:  # e.g. OOM while building: every row of this model records it
                    rows += [_error_row(ctx_key, v, err) for v in variants]
                    save()
                    _free(device)
                    continue
                for variant in variants:
                    if args.deadline_s and time.perf_counter() - t_start > args.deadline_s:
                        rows.append(_skipped_row(ctx_key, variant))
                        continue
                    print(f"[{run.size}] {dtype} {variant}: prime, {run.warmup} + {run.steps} updates ...", flush=True)
                    try:
                        row = run_variant(ctx, variant, run.warmup, run.steps, run.update_freq)
                    except Exception as err:  # OOM, non-finite loss in a kernel, ...: recorded, the plan goes on
                        row = _error_row(ctx_key, variant, err)
                    if "error" in row:  # outside the except block: its traceback (holding the step's tensors) is gone
                        ctx.model.zero_grad(set_to_none=True)
                        _free(device)
                    if VARIANTS[variant].get("compile_layers"):
                        speed.reset_compiled()
                    print("   " + json.dumps(row), flush=True)
                    rows.append(row)
                    save()
                _set_options(ctx, {})
                ctx.free()
    save()
    print(result["markdown"], flush=True)
    print(f"total {result['wall_s']:.0f} s", flush=True)
    return rows


if __name__ == "__main__":
    main()
