"""``video_channels_last``: the ResNet front-end on channels-last activations gives the same features and
gradients, and leaves parameters (and so fairseq's flattened fp16 master copy) in their layout."""

from __future__ import annotations

import torch

import avhubert_ami  # noqa: F401  registers the models
from avhubert_ami.models.resnet import ResEncoder
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.models.speed import set_video_channels_last
from avhubert_ami.testing.models import TINY_DECODER, TINY_ENCODER, fake_task


def _run(resnet: ResEncoder, video: torch.Tensor):
    resnet.zero_grad(set_to_none=True)
    out = resnet(video)
    out.pow(2).mean().backward()
    return out.detach(), [p.grad.clone() for p in resnet.parameters()]


def test_channels_last_same_features_and_gradients():
    torch.manual_seed(0)
    resnet = ResEncoder(width=8, blocks=[1, 1, 1, 1]).train()
    video = torch.randn(2, 1, 5, 88, 88)
    seen = []
    resnet.trunk.layer1.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    ref_out, ref_grads = _run(resnet, video)
    resnet.channels_last = True
    out, grads = _run(resnet, video)
    assert seen == [False, True]  # the trunk really ran channels-last
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
    scale = max(g.abs().max().item() for g in ref_grads)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * scale)
    # fairseq's FP16Optimizer flattens parameters and gradients with .view(-1): both must stay contiguous
    assert all(p.is_contiguous() and p.grad.is_contiguous() for p in resnet.parameters())


def test_model_option_reaches_the_resnet_and_keeps_keys():
    torch.manual_seed(0)
    cfg = dict(TINY_ENCODER, **TINY_DECODER)
    plain = AVHubertSeq2Seq.build_model(AVHubertSeq2SeqConfig(**cfg), fake_task())
    fast = AVHubertSeq2Seq.build_model(AVHubertSeq2SeqConfig(**cfg, video_channels_last=True), fake_task())
    resnets = [m for m in fast.modules() if isinstance(m, ResEncoder)]
    assert resnets and all(r.channels_last for r in resnets)
    assert not any(m.channels_last for m in plain.modules() if isinstance(m, ResEncoder))
    assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    assert set_video_channels_last(fast, False) == 1 and not resnets[0].channels_last
