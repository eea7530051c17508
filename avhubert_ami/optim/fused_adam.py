"""fairseq optimizer ``adam_fused``: fairseq's ``adam`` update through PyTorch's fused (or foreach) AdamW kernels.

fairseq's ``adam`` runs its own loop of about ten tensor operations per parameter (apex's FusedAdam, which it would
use on a GPU, is not installable here). Under ``bf16`` (and fp32) fairseq keeps one fp32 master copy per parameter,
so a base model's update is thousands of small kernels; under fp16 the master copy is one flat tensor and the update
about ten passes over it. ``torch.optim.AdamW(fused=True)`` does either in one multi-tensor kernel.

Same update as fairseq's ``adam`` (which is AdamW: decoupled weight decay ``p -= lr * wd * p``): fairseq divides by
``sqrt(v) + eps`` before the bias correction of ``v``, PyTorch by ``sqrt(v) / sqrt(1 - beta2^t) + eps`` after it; so
each step hands PyTorch ``eps / sqrt(1 - beta2^t)``, which makes the two formulas equal (up to float rounding). ``t``
is counted per parameter group, which equals fairseq's per-parameter count whenever every parameter gets a gradient
at every update: always under fp16/bf16 (the master copy gets zeros for a missing gradient), and in fp32 unless some
parameters have no gradient for a while (``freeze_finetune_updates``), where ``eps`` differs slightly for those.

Use: ``optimizer._name=adam_fused`` with the same ``adam_betas``/``adam_eps``/``weight_decay``. Optimizer state
is not interchangeable with ``adam``'s: a resumed run that switches starts new moment estimates (fairseq logs it).
"""

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, List

import torch
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.optim import FairseqOptimizer, register_optimizer
from omegaconf import II, OmegaConf

KERNELS = ChoiceEnum(["auto", "fused", "foreach", "loop"])


@dataclass
class FusedAdamConfig(FairseqDataclass):
    """fairseq ``adam``'s fields (same names and defaults) plus the kernel choice."""

    adam_betas: Any = field(default=(0.9, 0.999), metadata={"help": "betas for Adam optimizer"})
    adam_eps: float = field(default=1e-8, metadata={"help": "epsilon for Adam optimizer (fairseq's placement)"})
    weight_decay: float = field(default=0.0, metadata={"help": "decoupled weight decay, as fairseq's adam"})
    kernel: KERNELS = field(
        default="auto",
        metadata={
            "help": "auto: fused where PyTorch has it for the parameters' device, else foreach; loop: one "
            "parameter at a time (a reference)"
        },
    )
    lr: List[float] = II("optimization.lr")


def _betas(value: Any) -> tuple:
    if isinstance(value, str):  # fairseq's adam takes "(0.9,0.98)" strings too
        value = [float(x) for x in value.strip("()[] ").split(",")]
    elif OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
    betas = tuple(float(b) for b in value)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"optimizer.adam_betas must be two numbers in [0, 1), got {value!r}")
    return betas


@register_optimizer("adam_fused", dataclass=FusedAdamConfig)
class FusedAdam(FairseqOptimizer):
    """fairseq's Adam (AdamW) update in one multi-tensor kernel (see the module docstring)."""

    def __init__(self, cfg: FusedAdamConfig, params) -> None:
        super().__init__(cfg)
        params = list(params)
        kwargs = self.optimizer_config
        kernel = str(getattr(cfg, "kernel", "auto"))
        if kernel == "auto":
            devices = {p.device.type for p in _tensors(params)}
            kernel = "fused" if devices and devices <= {"cuda", "cpu"} else "foreach"
        self.kernel = kernel
        flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[kernel]
        self._optimizer = torch.optim.AdamW(params, **kwargs, **flags)
        self._base_eps = float(kwargs["eps"])
        self._steps: List[int] = [-1] * len(self._optimizer.param_groups)  # -1: not yet read from the state

    @property
    def optimizer_config(self) -> dict:
        """Keyword arguments that override those stored in checkpoints (fairseq's convention)."""
        lr = self.cfg.lr[0] if isinstance(self.cfg.lr, Collection) else self.cfg.lr
        return {
            "lr": float(lr),
            "betas": _betas(self.cfg.adam_betas),
            "eps": float(self.cfg.adam_eps),
            "weight_decay": float(self.cfg.weight_decay),
        }

    @property
    def supports_flat_params(self) -> bool:
        return True

    def load_state_dict(self, state_dict, optimizer_overrides=None) -> None:
        super().load_state_dict(state_dict, optimizer_overrides)
        self._steps = [-1] * len(self._optimizer.param_groups)

    def _group_step(self, index: int, group: dict) -> int:
        """Updates this group has taken (read from the optimizer state once, e.g. after a resume)."""
        if self._steps[index] < 0:
            steps = [self._optimizer.state[p]["step"] for p in group["params"] if "step" in self._optimizer.state[p]]
            self._steps[index] = int(max(float(s) for s in steps)) if steps else 0
        return self._steps[index]

    def step(self, closure=None, scale: float = 1.0, groups=None) -> None:
        """One AdamW step with ``eps`` moved to fairseq's placement for this step's bias correction."""
        for i, group in enumerate(self._optimizer.param_groups):
            t = self._group_step(i, group) + 1
            group["eps"] = self._base_eps / math.sqrt(1.0 - group["betas"][1] ** t)
        super().step(closure, scale, groups)
        self._steps = [s + 1 for s in self._steps]


def _tensors(params) -> list:
    out = []
    for p in params:
        out.extend(p["params"] if isinstance(p, dict) else [p])
    return out
