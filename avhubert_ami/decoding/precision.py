"""Inference precision of a loaded recogniser: ``--precision auto|fp32|bf16|int8`` of ``avhubert-decode`` and
``avhubert-transcribe``.

``fp32``
    the model's own arithmetic; the ResNet front-end runs prepared: batch norm folded into the preceding
    convolution, the 2-D trunk in ``channels_last`` (oneDNN's native layout) and padded frames skipped, equal to the
    loaded model up to float rounding (the demo model's test hypotheses are identical).
``int8``
    CPU only. The front-end prepared as for fp32, and the Linear layers of the Transformer encoder quantised
    dynamically (``torch.ao.quantization.quantize_dynamic``: int8 weights, activations quantised per batch; fbgemm
    kernels on x86 with AVX2, faster with VNNI); those attention layers then take fairseq's own (non-fused)
    attention, which calls the projections as modules. The decoder stays fp32: quantising it as well moved the demo
    model's test WER by 0.85 points at batch 8 (encoder alone: 0.21), beyond the 0.3 the default may cost.
``bf16``
    the front-end prepared as for int8, then the front-end and the Transformer encoder under bfloat16 autocast
    (CPU: only where the CPU computes in bf16 natively, ``avx512_bf16`` or ``amx_bf16``; emulated bf16 is an order
    of magnitude slower than fp32; CUDA: where the GPU supports bf16). Their outputs return to fp32.
``auto`` (the default)
    the fastest precision that kept the demo model's WER within 0.3 points of fp32 in the measurements of
    ``docs/measurements/cpu_inference/``: ``int8`` on a CPU with int8 kernels, ``fp32`` elsewhere (GPUs included:
    their figures are still to be measured).

What stays fp32 at every precision, because search scores are sums of log-probabilities: the decoder's output
projection and log-softmax, the CTC projection and its log-softmax, the CTC prefix scores, the LM. A precision the
machine cannot run (bf16 without the instructions, int8 on a GPU or without a quantised engine) falls back to fp32
with a note, logged and written into the result files (``results.json``, the transcript's ``NAME.json``).

Prepared models are for inference only: their module structure differs from the checkpoint's (folded batch norms,
quantised layers); never save one.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: the precision ``auto`` resolves to on a CPU with int8 kernels (measured: docs/measurements/cpu_inference/)
AUTO_CPU = "int8"
#: /proc/cpuinfo flags of native bf16 dot products (AVX512-BF16, AMX)
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: flags of int8 dot-product instructions (VNNI): fbgemm's int8 kernels run without them too (AVX2), slower
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@dataclass(frozen=True)
class CpuFeatures:
    """What the CPU offers for reduced-precision inference."""

    model: str  # "model name" of /proc/cpuinfo ("" when unknown)
    flags: FrozenSet[str]  # instruction-set flags of /proc/cpuinfo (empty when unknown)
    capability: str  # torch's vectorisation level: AVX2, AVX512, DEFAULT, ...
    quantized_engines: FrozenSet[str]  # torch.backends.quantized.supported_engines

    @property
    def bf16(self) -> bool:
        """Native bf16 dot products (AVX512-BF16 or AMX)."""
        return bool(self.flags & BF16_FLAGS)

    @property
    def vnni(self) -> bool:
        """int8 dot-product instructions."""
        return bool(self.flags & VNNI_FLAGS)

    @property
    def int8(self) -> bool:
        """Dynamic int8 Linear kernels: an x86 quantised engine (fbgemm) on a CPU with AVX2 or better."""
        return bool(self.quantized_engines & {"x86", "fbgemm"}) and self.capability.startswith(("AVX2", "AVX512"))

    def describe(self) -> str:
        """One line for logs and result files."""
        extra = sorted(self.flags & (BF16_FLAGS | VNNI_FLAGS))
        return f"{self.model or 'unknown CPU'} ({self.capability}{', ' + ', '.join(extra) if extra else ''})"


def _read_cpuinfo(path: str = "/proc/cpuinfo") -> tuple:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:  # not Linux: no flags known, so no bf16 claimed
        return "", frozenset()
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return model, flags


@functools.lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    """This machine's :class:`CpuFeatures` (read once)."""
    import torch

    model, flags = _read_cpuinfo()
    return CpuFeatures(
        model=model,
        flags=flags,
        capability=str(torch.backends.cpu.get_cpu_capability()),
        quantized_engines=frozenset(torch.backends.quantized.supported_engines),
    )


@dataclass
class AppliedPrecision:
    """The precision a recogniser runs at: what was asked, what is used, why they differ, what each part does."""

    requested: str
    used: str
    device: str
    note: str = ""  # why ``used`` differs from ``requested`` (a fallback), or ""
    parts: Dict[str, str] = field(default_factory=dict)  # model part -> how it runs

    def record(self) -> Dict[str, object]:
        """As written into result files."""
        return asdict(self)


def resolve_precision(requested: str, device: str, cpu: Optional[CpuFeatures] = None) -> tuple:
    """``(precision to use, note)`` for ``requested`` on ``device`` (``cpu``, ``cuda``, ``cuda:N``); the note says
    why a fallback happened ("" when none did). ``cpu``: the CPU's features (default: this machine's)."""
    import torch

    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    on_gpu = not str(device).startswith("cpu")
    if on_gpu:
        if requested == "int8":
            return "fp32", "int8: dynamic int8 quantisation runs on the CPU only; running fp32 on the GPU"
        if requested == "bf16" and not torch.cuda.is_bf16_supported():
            return "fp32", "bf16: this GPU has no bf16 support; running fp32"
        return ("fp32" if requested == "auto" else requested), ""
    cpu = cpu or cpu_features()
    if requested == "auto":
        return (AUTO_CPU, "") if cpu.int8 else ("fp32", "")
    if requested == "bf16" and not cpu.bf16:
        return "fp32", (
            f"bf16: {cpu.describe()} has no native bf16 (avx512_bf16 or amx_bf16; emulated bf16 is ~10x slower "
            "than fp32); running fp32"
        )
    if requested == "int8" and not cpu.int8:
        return "fp32", (
            f"int8: {cpu.describe()} has no int8 kernels (needs an x86 quantised engine and AVX2); running fp32"
        )
    return requested, ""


# ---- preparing the model ---------------------------------------------------------------------------------------
def fold_batch_norms(module):
    """Fold every eval-mode BatchNorm that directly follows a convolution in a ``Sequential`` or in a ResNet block
    (``convN``/``bnN``) into that convolution; the batch norm becomes ``Identity``. Returns how many were folded."""
    import torch.nn as nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    count = 0
    for parent in list(module.modules()):
        names = list(parent._modules)
        pairs = []
        if isinstance(parent, nn.Sequential):
            pairs = list(zip(names, names[1:]))
        pairs += [(n, "bn" + n[4:]) for n in names if n.startswith("conv") and "bn" + n[4:] in parent._modules]
        for conv_name, bn_name in pairs:
            conv, bn = parent._modules[conv_name], parent._modules[bn_name]
            if isinstance(conv, convs) and isinstance(bn, norms) and bn.track_running_stats:
                parent._modules[conv_name] = fuse_conv_bn_eval(conv.eval(), bn.eval())
                parent._modules[bn_name] = nn.Identity()
                count += 1
    return count


def prepare_frontend(w2v) -> str:
    """Prepare the visual front-end of an AV-HuBERT encoder (``w2v_model``) for inference: batch norms folded,
    the 2-D trunk in ``channels_last``, padded frames skipped (:func:`skip_padded_frames`). Returns a
    description."""
    import torch

    if getattr(w2v, "_avhubert_frontend_prepared", False):
        return "prepared already"
    resnet = w2v.feature_extractor_video.resnet
    n = fold_batch_norms(resnet)
    resnet.trunk.to(memory_format=torch.channels_last)  # oneDNN then keeps activations in NHWC end to end
    skip_padded_frames(w2v)
    w2v._avhubert_frontend_prepared = True
    return f"{n} batch norms folded, trunk channels_last, padded frames skipped"


def skip_padded_frames(w2v) -> None:
    """Run the ResNet of ``w2v`` (an ``AVHubertModel``) only on the frames a batch row has: its own length, and
    none for a row without video. A batch row is computed at the batch's length, but its padded frames never reach
    a result: the encoder zeroes padded positions before the Transformer (and masks them after), and a row without
    video has its video features replaced by zeros. Skipping them is exact: the 3-D stem sees the same zeros at a
    row's end (the padding is zeros, as the convolution's own padding). In a batch of mixed lengths this saves the
    padded share of the front-end, the largest part of the model's work.

    The padding mask reaches the front-end through ``extract_finetune`` (wrapped here); a batch without one, or
    whose padding is not at the end of each row, runs the whole batch as before."""
    resnet = w2v.feature_extractor_video.resnet
    extract, full = w2v.extract_finetune, resnet.forward
    current: Dict[str, object] = {}

    def extract_finetune(source, padding_mask=None, *args, **kwargs):
        current["lengths"] = _video_lengths(source, padding_mask)
        try:
            return extract(source, padding_mask, *args, **kwargs)
        finally:
            current.clear()

    def forward(x):
        lengths = current.get("lengths")
        if lengths is None or len(lengths) != x.size(0) or all(n == x.size(2) for n in lengths):
            return full(x)
        return _frontend_rows(resnet, x, lengths)

    w2v.extract_finetune = extract_finetune
    resnet.forward = forward


def _video_lengths(source, padding_mask) -> Optional[List[int]]:
    """Frames of video each row has (0: no video), or None when they cannot be told (no mask, or padding that is
    not a suffix)."""
    import torch

    video = source.get("video") if isinstance(source, dict) else None
    if video is None or padding_mask is None or tuple(padding_mask.shape) != (video.size(0), video.size(2)):
        return None
    valid = ~padding_mask
    lengths = valid.sum(1)
    prefix = torch.arange(valid.size(1), device=valid.device)[None, :] < lengths[:, None]
    if not bool((prefix == valid).all()):
        return None
    present = source.get("present")
    if present is not None:
        lengths = torch.where(present[:, 1].to(lengths.device).bool(), lengths, torch.zeros_like(lengths))
    return [int(n) for n in lengths]


def _frontend_rows(resnet, x, lengths: List[int]):
    """:meth:`ResEncoder.forward` computed on each row's first ``lengths[b]`` frames; zeros elsewhere."""
    import torch

    batch, steps = x.size(0), x.size(2)
    rows = [b for b in range(batch) if lengths[b] > 0]
    frames = []
    for b in rows:  # the 3-D stem per row: its temporal kernel must not see another row's frames
        y = resnet.frontend3D(x[b : b + 1, :, : lengths[b]])  # 1 x C x n x H' x W'
        frames.append(y[0].transpose(0, 1))
    out = x.new_zeros(batch, steps, resnet.backend_out)
    if rows:
        feats = resnet.trunk(torch.cat(frames).contiguous(memory_format=torch.channels_last))
        for b, part in zip(rows, feats.split([lengths[b] for b in rows])):
            out[b, : lengths[b]] = part
    return out.transpose(1, 2).contiguous()  # B x D x T, as ResEncoder.forward


def _autocast_forward(forward: Callable, device_type: str, dtype) -> Callable:
    import torch

    @functools.wraps(forward)
    def run(*args, **kwargs):
        with torch.autocast(device_type, dtype=dtype):
            out = forward(*args, **kwargs)
        return _to_float(out)

    return run


def _to_float(out):
    import torch

    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple):
        return tuple(_to_float(o) for o in out)
    if isinstance(out, list):
        return [_to_float(o) for o in out]
    if isinstance(out, dict):
        return {k: _to_float(v) for k, v in out.items()}
    return out


def autocast_module(module, device_type: str, dtype) -> None:
    """Run ``module``'s forward under autocast to ``dtype``, its floating outputs returned as fp32 (the instance's
    forward is wrapped: parameters and names stay)."""
    module.forward = _autocast_forward(module.forward, device_type, dtype)


def quantize_linears(layers: Iterable) -> int:
    """Dynamic int8 quantisation of the ``nn.Linear`` layers of each module of ``layers`` (in place); fairseq
    attention inside them is switched to its own path, which calls the projections as modules. Returns how many
    layers were quantised."""
    import torch
    import torch.nn as nn

    from avhubert_ami.models.attention import set_attention_impl

    count = 0
    with warnings.catch_warnings():
        # torch.ao's eager-mode API is deprecated in favour of torchao (not a dependency); it works as documented
        warnings.filterwarnings("ignore", message=".*torchao.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        for layer in layers:
            count += sum(isinstance(m, nn.Linear) for m in layer.modules())
            set_attention_impl(layer, "eager")
            torch.ao.quantization.quantize_dynamic(layer, {nn.Linear}, dtype=torch.qint8, inplace=True)
    return count


def _w2v(model):
    """The AV-HuBERT encoder (``w2v_model``) of an ``av_hubert_seq2seq`` model, or None."""
    return getattr(getattr(model, "encoder", None), "w2v_model", None)


def prepare_model(model, precision: str, device: str) -> Dict[str, str]:
    """Put one loaded (eval-mode) ``av_hubert_seq2seq`` model at ``precision`` (``fp32``, ``bf16``, ``int8``;
    already resolved for ``device``) in place. Returns how each part runs."""
    import torch

    parts = {"frontend": "fp32", "encoder": "fp32", "decoder": "fp32", "scores": "fp32"}
    if precision not in ("fp32", "int8", "bf16"):
        raise ValueError(f"prepare_model: unknown precision {precision!r}")
    w2v = _w2v(model)
    resnet = getattr(getattr(w2v, "feature_extractor_video", None), "resnet", None)
    if resnet is not None and str(device).startswith("cpu"):  # a GPU runs the batch's rows together
        parts["frontend"] = f"fp32 ({prepare_frontend(w2v)})"
    if precision == "fp32":
        return parts
    if precision == "int8" and w2v is not None:
        n = quantize_linears(w2v.encoder.layers)
        parts["encoder"] = f"int8 dynamic ({n} Linear layers; attention non-fused)"
    elif precision == "bf16":
        device_type = "cpu" if str(device).startswith("cpu") else "cuda"
        if resnet is not None:
            autocast_module(resnet, device_type, torch.bfloat16)
            parts["frontend"] = parts["frontend"].replace("fp32", "bf16 autocast", 1)
        autocast_module(w2v.encoder, device_type, torch.bfloat16)
        parts["encoder"] = "bf16 autocast (Transformer layers; output fp32)"
    return parts


def _finite(models: List) -> bool:
    """Every floating parameter of every model is finite."""
    import torch

    return all(bool(torch.isfinite(p).all()) for m in models for p in m.parameters() if p.is_floating_point())


def apply_precision(models: Iterable, requested: str, device: str, cpu: Optional[CpuFeatures] = None):
    """Resolve ``requested`` for ``device`` and prepare every model of an ensemble; log a fallback. Returns the
    :class:`AppliedPrecision` (recorded in result files)."""
    used, note = resolve_precision(requested, device, cpu)
    models = list(models)
    if used != "fp32" and not _finite(models):
        # quantising a diverged model fails inside torch; at fp32 the search reports it in one line
        used, note = "fp32", f"{requested}: the model has non-finite weights; running fp32"
    if note:
        logger.warning("--precision %s: %s", requested, note)
    parts: Dict[str, str] = {}
    for model in models:
        parts = prepare_model(model, used, device)
    applied = AppliedPrecision(requested=requested, used=used, device=str(device), note=note, parts=parts)
    logger.info("precision %s (requested %s): %s", used, requested, ", ".join(f"{k} {v}" for k, v in parts.items()))
    return applied
