"""Optimizer ``adam_fused``: fairseq's ``adam`` update (eps placement, decoupled weight decay) through PyTorch's
multi-tensor kernels, alone and under fairseq's FP16Optimizer (flat fp32 master copy), across a resume."""

from __future__ import annotations

import pytest
import torch
from fairseq import optim
from fairseq.dataclass.configs import CommonConfig
from omegaconf import OmegaConf

import avhubert_ami  # noqa: F401  registers adam_fused


def _cfg(name: str, kernel: str = "auto", fp16: bool = False):
    common = OmegaConf.structured(CommonConfig)
    common.fp16 = fp16
    common.fp16_no_flatten_grads = False
    optimizer = {"_name": name, "adam_betas": "(0.9,0.98)", "adam_eps": 1e-3, "weight_decay": 0.01, "lr": [0.01]}
    if name == "adam_fused":
        optimizer["kernel"] = kernel
    else:
        optimizer["use_old_adam"] = True  # fairseq's own loop (apex's FusedAdam is absent anyway)
    return OmegaConf.create(
        {
            "common": common,
            "optimization": {"lr": [0.01], "update_freq": [1]},
            "distributed_training": {"distributed_world_size": 1},
            "optimizer": optimizer,
        }
    )


def _params(dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(*shape, generator=g).to(dtype)) for shape in [(7, 5), (5,), (3, 2, 4)]]


def _grads(step: int, params):
    g = torch.Generator().manual_seed(100 + step)
    # small gradients for the first parameter: there eps (1e-3) is not negligible, so its placement shows
    scales = [1e-4, 1.0, 0.3]
    return [torch.randn(p.shape, generator=g) * s for p, s in zip(params, scales)]


def _run(name: str, steps: int, kernel: str = "auto", resume_at: int = 0):
    params = _params()
    opt = optim.build_optimizer(_cfg(name, kernel).optimizer, params)
    for t in range(steps):
        if resume_at and t == resume_at:  # a new process: a fresh optimizer loads the saved state
            state = opt.state_dict()
            opt = optim.build_optimizer(_cfg(name, kernel).optimizer, params)
            opt.load_state_dict(state)
        for p, grad in zip(params, _grads(t, params)):
            p.grad = grad.clone()
        opt.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("kernel", ["fused", "foreach", "loop"])
def test_same_update_as_fairseq_adam(kernel):
    want = _run("adam", 6)
    got = _run("adam_fused", 6, kernel=kernel)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_eps_placement_matters_here():
    """The check above can tell: PyTorch's own eps placement (no per-step correction) moves the result."""
    want = _run("adam", 6)
    params = _params()
    plain = torch.optim.AdamW(params, lr=0.01, betas=(0.9, 0.98), eps=1e-3, weight_decay=0.01)
    for t in range(6):
        for p, grad in zip(params, _grads(t, params)):
            p.grad = grad.clone()
        plain.step()
    assert (params[0].detach() - want[0]).abs().max() > 1e-5


def test_resume_continues_the_same_update():
    want = _run("adam_fused", 6)
    got = _run("adam_fused", 6, resume_at=3)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_under_fp16_optimizer_flat_master_copy(monkeypatch):
    """fairseq's FP16Optimizer (fp16 model, one flat fp32 master tensor) accepts it and gives adam's update."""
    # fairseq keys its flat copy by torch.cuda.current_device() and looks parameters up by p.device.index, which is
    # None on the CPU: the same key makes the flat path run here as on a GPU
    monkeypatch.setattr(torch.cuda, "current_device", lambda: None)
    results = {}
    for name in ("adam", "adam_fused"):
        params = _params(torch.float16)
        cfg = _cfg(name, fp16=True)
        cfg.common.fp16_no_flatten_grads = False
        opt = optim.FP16Optimizer.build_optimizer(cfg, params)
        assert list(opt.fp32_params) == [None] and opt.fp32_params[None].numel() == sum(p.numel() for p in params)
        for t in range(4):
            opt.zero_grad()
            opt.backward(sum((p.float() * grad).sum() for p, grad in zip(params, _grads(t, params))))
            opt.step()
        results[name] = [p.detach().float() for p in params]
    for a, b in zip(results["adam_fused"], results["adam"]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
