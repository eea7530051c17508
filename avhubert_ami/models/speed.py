"""Speed options of ``av_hubert_seq2seq`` (issue 23): how the step runs, never what it computes.

Each is a model config field, off by default (= upstream's code path), applied by :func:`apply_speed_options` when
the model is built; none renames a module or changes a state-dict key, so checkpoints move freely between runs with
and without them.

* ``attention_impl``: fairseq's attention (``sdpa``, default), its eager path, or ``bool_sdpa``
  (:mod:`avhubert_ami.models.attention`).
* ``video_channels_last``: the video ResNet on channels-last activations
  (:class:`~avhubert_ami.models.resnet.ResEncoder`).
* ``cudnn_benchmark``: cuDNN autotuning (``torch.backends.cudnn.benchmark``, for the whole process): a new input
  shape is timed once per convolution; pays off with few batch shapes (``task.pad_to_bucket``), can cost more than it
  gains when nearly every batch has a shape of its own.
* ``compile_layers``: ``torch.compile`` of the encoder and decoder layers while training (one compiled function per
  layer kind, shared by every layer of that kind; evaluation and incremental decoding run eagerly). Compiled at the
  first training step; where compiling is unavailable that step warns and the layers run uncompiled.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional

import torch
import torch.nn as nn
from fairseq.models.wav2vec.wav2vec2 import TransformerSentenceEncoderLayer
from fairseq.modules import TransformerDecoderLayer

from avhubert_ami.models.attention import set_attention_impl
from avhubert_ami.models.resnet import ResEncoder

logger = logging.getLogger(__name__)


class CompiledEncoderLayer(TransformerSentenceEncoderLayer):
    """An encoder layer whose training forward runs compiled (made by :func:`compile_layers`, by class switch)."""

    def forward(self, x, self_attn_mask=None, self_attn_padding_mask=None, need_weights: bool = False, att_args=None):
        if self.training and torch.is_grad_enabled():
            fn = _compiled("encoder", x.device.type)
            return fn(self, _own(x), self_attn_mask, self_attn_padding_mask, need_weights, att_args)
        return super().forward(x, self_attn_mask, self_attn_padding_mask, need_weights, att_args)


class CompiledDecoderLayer(TransformerDecoderLayer):
    """A decoder layer whose teacher-forced training forward runs compiled (made by :func:`compile_layers`, by
    class switch).

    fairseq's own forward reads each layer's incremental-state id (a per-layer string) even without incremental
    state, so a compiled copy of it would be specialised, and recompiled, per layer; the compiled function is
    :func:`decoder_layer_train_forward` instead, the same computation for the calls training makes.
    """

    def forward(
        self,
        x,
        encoder_out=None,
        encoder_padding_mask=None,
        incremental_state=None,
        prev_self_attn_state=None,
        prev_attn_state=None,
        self_attn_mask=None,
        self_attn_padding_mask=None,
        need_attn: bool = False,
        need_head_weights: bool = False,
    ):
        plain = incremental_state is None and prev_self_attn_state is None and prev_attn_state is None
        plain = plain and self_attn_padding_mask is None and not (need_attn or need_head_weights)
        if plain and self.training and torch.is_grad_enabled():
            fn = _compiled("decoder", x.device.type)
            return fn(self, _own(x), encoder_out, encoder_padding_mask, _own(self_attn_mask))
        return super().forward(
            x,
            encoder_out,
            encoder_padding_mask,
            incremental_state,
            prev_self_attn_state,
            prev_attn_state,
            self_attn_mask,
            self_attn_padding_mask,
            need_attn,
            need_head_weights,
        )


def _own(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """``t``, copied if it is a view: the first layer gets a transposed view and the others fresh tensors (and the
    causal mask is a slice of a cached one, sometimes), and compiled code guards on that difference: it would be
    compiled twice."""
    return t if t is None or t._base is None else t.clone(memory_format=torch.contiguous_format)


def decoder_layer_train_forward(layer, x, encoder_out, encoder_padding_mask, self_attn_mask):
    """fairseq ``TransformerDecoderLayer.forward`` for a training call (no incremental state, no attention weights,
    no self-attention padding mask) of a plain layer (see :func:`_plain_decoder_layer`): ``(x, None, None)``."""
    residual = x
    if layer.normalize_before:
        x = layer.self_attn_layer_norm(x)
    x, _ = layer.self_attn(query=x, key=x, value=x, need_weights=False, attn_mask=self_attn_mask)
    x = layer.residual_connection(layer.dropout_module(x), residual)
    if not layer.normalize_before:
        x = layer.self_attn_layer_norm(x)
    if layer.encoder_attn is not None and encoder_out is not None:
        residual = x
        if layer.normalize_before:
            x = layer.encoder_attn_layer_norm(x)
        x, _ = layer.encoder_attn(
            query=x,
            key=encoder_out,
            value=encoder_out,
            key_padding_mask=encoder_padding_mask,
            static_kv=True,
            need_weights=False,
        )
        x = layer.residual_connection(layer.dropout_module(x), residual)
        if not layer.normalize_before:
            x = layer.encoder_attn_layer_norm(x)
    residual = x
    if layer.normalize_before:
        x = layer.final_layer_norm(x)
    x = layer.activation_dropout_module(layer.activation_fn(layer.fc1(x)))
    x = layer.dropout_module(layer.fc2(x))
    x = layer.residual_connection(x, residual)
    if not layer.normalize_before:
        x = layer.final_layer_norm(x)
    return x, None, None


def _plain_decoder_layer(layer: nn.Module) -> bool:
    """True for a decoder layer without the options :func:`decoder_layer_train_forward` leaves out (fairseq's
    cross-self-attention, head/residual scaling, extra layer norms: none of them in AV-HuBERT's decoder)."""
    extras = ("c_attn", "attn_ln", "ffn_layernorm", "w_resid")
    return not getattr(layer, "cross_self_attention", False) and all(getattr(layer, a, None) is None for a in extras)


_COMPILED_CLASS = {TransformerSentenceEncoderLayer: CompiledEncoderLayer, TransformerDecoderLayer: CompiledDecoderLayer}
_FORWARDS = {"encoder": TransformerSentenceEncoderLayer.forward, "decoder": decoder_layer_train_forward}
#: one compiled function per layer kind: every layer of a kind shares its compiled graphs
_COMPILED_FORWARD: Dict[str, Callable] = {}
#: ``torch.compile`` arguments; ``dynamic=True``: symbolic batch and length sizes from the first step, so one
#: compilation per layer kind serves every batch shape (PyTorch's default compiles the first shape static, then once
#: more at the first new shape)
COMPILE_KWARGS: Dict[str, Any] = {"dynamic": True}


def _compiled(kind: str, device: str) -> Callable:
    """The compiled training forward of ``kind`` (made on first use, after probing ``device``); where compiling is
    unavailable, the plain function (and one warning)."""
    key = f"{kind}@{device}"
    if key not in _COMPILED_FORWARD:
        reason = compile_unavailable(device)
        if reason is None:
            _COMPILED_FORWARD[key] = torch.compile(_FORWARDS[kind], **COMPILE_KWARGS)
        else:
            logger.warning(
                "compile_layers: torch.compile is unavailable on %s (%s); %s layers run uncompiled",
                device,
                reason,
                kind,
            )
            _COMPILED_FORWARD[key] = _FORWARDS[kind]
    return _COMPILED_FORWARD[key]


_PROBE: Dict[str, Optional[str]] = {}


def compile_unavailable(device: str = "cpu") -> Optional[str]:
    """Why ``torch.compile`` cannot run on ``device`` here (None when it can): it is tried once on a tiny
    function (the inductor backend needs Triton on CUDA and a C++ compiler on the CPU)."""
    if device not in _PROBE:
        try:
            import torch._dynamo

            if not torch._dynamo.is_dynamo_supported():
                raise RuntimeError("torch.compile is not supported on this Python/platform")
            fn = torch.compile(lambda x: torch.nn.functional.gelu(x) * 2.0, dynamic=False)
            fn(torch.ones(8, device=device))
            _PROBE[device] = None
        except Exception as err:  # any failure means: run eagerly
            _PROBE[device] = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
    return _PROBE[device]


def compile_layers(model: nn.Module) -> int:
    """Switch every encoder/decoder layer of ``model`` to its compiled-while-training class; returns how many.

    Nothing is compiled (or probed) here: the first training step does it, so a model built for decoding pays
    nothing; where compiling is unavailable that step warns and the layers run uncompiled.
    """
    count = 0
    for module in model.modules():
        target = _COMPILED_CLASS.get(type(module))
        if target is CompiledDecoderLayer and not _plain_decoder_layer(module):
            logger.warning("compile_layers: a decoder layer with fairseq options outside AV-HuBERT's stays uncompiled")
            continue
        if target is not None:
            module.__class__ = target
            count += 1
    return count


_compile_layers = compile_layers  # for set_speed_options, whose argument of that name hides the function


def uncompile_layers(model: nn.Module) -> int:
    """Undo :func:`compile_layers`; returns how many layers were switched back."""
    back = {v: k for k, v in _COMPILED_CLASS.items()}
    count = 0
    for module in model.modules():
        if type(module) in back:
            module.__class__ = back[type(module)]
            count += 1
    return count


def set_video_channels_last(model: nn.Module, enabled: bool) -> int:
    """Turn channels-last activations of every video ResNet in ``model`` on or off; returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, ResEncoder):
            module.channels_last = bool(enabled)
            count += 1
    return count


def reset_compiled() -> None:
    """Forget every compiled layer function (and dynamo's caches): the next training step compiles afresh."""
    _COMPILED_FORWARD.clear()
    torch._dynamo.reset()


def set_speed_options(
    model: nn.Module,
    attention_impl: str = "sdpa",
    video_channels_last: bool = False,
    cudnn_benchmark: bool = False,
    compile_layers: bool = False,
) -> None:
    """Put ``model`` (and, for ``cudnn_benchmark``, the process) in exactly this speed configuration, switching
    off what is not asked for (benchmarks compare configurations on one model)."""
    set_attention_impl(model, attention_impl)
    set_video_channels_last(model, video_channels_last)
    torch.backends.cudnn.benchmark = bool(cudnn_benchmark)
    uncompile_layers(model)
    if compile_layers:
        _compile_layers(model)


def apply_speed_options(model: nn.Module, cfg: Any) -> None:
    """Apply the speed fields of a seq2seq config (missing fields: upstream's behaviour) to a newly built ``model``;
    options that are off change nothing (``cudnn_benchmark`` false leaves the process's setting alone)."""
    impl = str(getattr(cfg, "attention_impl", "sdpa") or "sdpa")
    if impl != "sdpa":
        set_attention_impl(model, impl)
    if getattr(cfg, "video_channels_last", False):
        set_video_channels_last(model, True)
    if getattr(cfg, "cudnn_benchmark", False):
        torch.backends.cudnn.benchmark = True
        logger.info("cudnn_benchmark: cuDNN autotuning on (torch.backends.cudnn.benchmark, whole process)")
    if getattr(cfg, "compile_layers", False):
        n = compile_layers(model)
        logger.info("compile_layers: %d encoder/decoder layers compile on their first training step", n)
