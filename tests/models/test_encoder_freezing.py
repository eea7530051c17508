"""A frozen encoder (``freeze_encoder``, ``freeze_finetune_updates``): which parameters get gradients, and its
eval mode (BatchNorm statistics kept, per-sample modality drop still on) against upstream's training mode."""

from __future__ import annotations

import torch

import avhubert_ami  # noqa: F401  registers models
from avhubert_ami.testing.models import av_batch
from tests.support.models import tiny_seq2seq


def _grads_after_step(model, num_updates=0):
    model.train()
    model.set_num_updates(num_updates)
    model.zero_grad(set_to_none=True)
    logits, _ = model(**av_batch(batch=2, frames=6, tgt_len=3))
    logits.float().logsumexp(-1).mean().backward()
    enc = [p.grad for p in model.encoder.parameters()]
    dec = [p.grad for p in model.decoder.parameters()]
    return enc, dec


def test_freeze_encoder_keeps_encoder_grads_none():
    model = tiny_seq2seq(freeze_encoder=True)
    enc, dec = _grads_after_step(model, num_updates=10_000)
    assert all(g is None for g in enc)
    assert all(g is not None for g in dec)
    assert not any(p.requires_grad for p in model.encoder.parameters())


def test_freeze_finetune_updates_switches():
    model = tiny_seq2seq(freeze_finetune_updates=5)
    enc, dec = _grads_after_step(model, num_updates=4)
    assert all(g is None for g in enc) and all(g is not None for g in dec)
    _grads_after_step(model, num_updates=5)
    w2v = model.encoder.w2v_model
    assert all(p.grad is not None for p in w2v.encoder.parameters())
    assert w2v.post_extract_proj.weight.grad.abs().sum() > 0
    # feature_grad_mult defaults to 0 for fine-tuning (upstream): front-ends stay gradient-free
    assert all(p.grad is None for p in w2v.feature_extractor_video.parameters())
    model = tiny_seq2seq(freeze_finetune_updates=5, feature_grad_mult=1.0)
    _grads_after_step(model, num_updates=5)
    no_grad = [n for n, p in model.encoder.named_parameters() if p.grad is None]
    assert no_grad == ["w2v_model.mask_emb"]  # only used when masking (pretraining)


def _bn_buffers(model):
    return {k: v.clone() for k, v in model.encoder.state_dict().items() if "running" in k or "num_batches" in k}


def test_frozen_encoder_runs_in_eval_mode_and_keeps_bn_stats():
    model = tiny_seq2seq(freeze_encoder=True, dropout=0.3, audio_drop_prob=0.5, visual_drop_prob=0.5)
    before = _bn_buffers(model)
    assert before, "the video ResNet has BatchNorm buffers"
    model.train()
    assert model.training and model.decoder.training
    assert not any(m.training for m in model.encoder.w2v_model.children())
    model(**av_batch(batch=2, frames=6, tgt_len=3))
    after = _bn_buffers(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    # per-sample modality drop is augmentation: still active on a frozen encoder
    present = model.encoder.w2v_model._presence(
        {"audio": torch.zeros(400, 104, 2), "video": torch.zeros(400, 1, 2, 1, 1)}
    )
    assert present is not None and not present.all()
    model.eval()
    assert (
        model.encoder.w2v_model._presence({"audio": torch.zeros(3, 104, 2), "video": torch.zeros(3, 1, 2, 1, 1)})
        is None
    )


def test_freeze_finetune_updates_keeps_training_mode_as_upstream():
    model = tiny_seq2seq(freeze_finetune_updates=5)
    before = _bn_buffers(model)
    model.train()
    model.set_num_updates(0)
    assert model.encoder.w2v_model.feature_extractor_video.resnet.training
    model(**av_batch(batch=2, frames=6, tgt_len=3))
    after = _bn_buffers(model)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # upstream lets the statistics move
