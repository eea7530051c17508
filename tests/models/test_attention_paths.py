"""The ``bool_sdpa`` attention path computes what fairseq's own paths compute, and switching keeps every key."""

from __future__ import annotations

import pytest
import torch
from fairseq.modules import MultiheadAttention

import avhubert_ami  # noqa: F401  registers the models
from avhubert_ami.models import attention
from avhubert_ami.models.attention import BoolMaskAttention, attention_impl, sdpa_mask, set_attention_impl
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.testing.models import TINY_DECODER, TINY_ENCODER, av_batch, fake_task


def _tiny(**overrides) -> AVHubertSeq2Seq:
    torch.manual_seed(0)
    cfg = AVHubertSeq2SeqConfig(**{**TINY_ENCODER, **TINY_DECODER, **overrides})
    return AVHubertSeq2Seq.build_model(cfg, fake_task())


def _padded_batch():
    batch = av_batch(batch=3, frames=20, tgt_len=7, vocab=37)
    batch["padding_mask"][1, 12:] = True  # three lengths: 20, 12, 17
    return batch


def _step(model, batch):
    """Training-mode forward + backward: (logits, {parameter: gradient})."""
    model.zero_grad(set_to_none=True)
    logits, _ = model(**batch)
    logits.float().pow(2).mean().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_grads_close(got, want):
    scale = max(g.abs().max().item() for g in want.values())
    assert got.keys() == want.keys()
    for name in want:  # absolute tolerance on the model's gradient scale: some are 0 up to rounding (k_proj.bias)
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5 * scale, msg=name)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_bool_sdpa_matches_fairseq_paths(mode):
    model = _tiny()
    model.train(mode == "train")
    batch = _padded_batch()
    calls = []
    original = BoolMaskAttention._sdpa_forward

    def spy(self, *args):
        calls.append("self" if self.self_attention else "cross")
        return original(self, *args)

    results = {}
    for impl in ("sdpa", "eager", "bool_sdpa"):
        set_attention_impl(model, impl)
        if impl == "bool_sdpa":
            BoolMaskAttention._sdpa_forward = spy
        try:
            results[impl] = _step(model, batch)
        finally:
            BoolMaskAttention._sdpa_forward = original
    # training: encoder self-attention (2 layers), decoder self- and cross-attention (2 layers each) all take
    # the new path; evaluation asks the cross-attention for its weights, which fairseq's own code returns
    expected = ["self"] * 2 + ["self", "cross"] * 2 if mode == "train" else ["self"] * 4
    assert calls == expected
    for impl in ("eager", "bool_sdpa"):
        torch.testing.assert_close(results[impl][0], results["sdpa"][0], rtol=1e-5, atol=1e-5)
        _assert_grads_close(results[impl][1], results["sdpa"][1])


def test_incremental_decoding_keeps_fairseq_path():
    model = _tiny().eval()
    batch = _padded_batch()
    outs = {}
    for impl in ("sdpa", "bool_sdpa"):
        set_attention_impl(model, impl)
        with torch.no_grad():
            enc = model.encoder(source=batch["source"], padding_mask=batch["padding_mask"])
            state, steps = {}, []
            tokens = batch["prev_output_tokens"][:, :1]
            for _ in range(4):
                logits, _ = model.decoder(tokens, encoder_out=enc, incremental_state=state)
                steps.append(logits[:, -1])
                tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        outs[impl] = torch.stack(steps)
    torch.testing.assert_close(outs["bool_sdpa"], outs["sdpa"], rtol=1e-5, atol=1e-5)


def test_mask_combines_padding_and_attention_masks():
    pad = torch.tensor([[False, False, True], [False, False, False]])
    keep = sdpa_mask(pad, None, torch.float32)
    assert keep.shape == (2, 1, 1, 3) and keep.dtype == torch.bool
    assert keep[0, 0, 0].tolist() == [True, True, False] and bool(keep[1].all())
    causal = torch.triu(torch.full((3, 3), float("-inf")), 1)
    both = sdpa_mask(pad, causal, torch.float32)
    assert both.shape == (2, 1, 3, 3)
    assert torch.isinf(both[0, 0, :, 2]).all()  # the padded key is masked for every query
    assert torch.equal(both[1, 0], causal)  # no padding: the causal mask as given
    banned = torch.tensor([[False, True, True], [False, False, True], [False, False, False]])
    assert torch.equal(sdpa_mask(None, banned, torch.float32), ~banned)
    assert sdpa_mask(None, None, torch.float32) is None


def test_switching_keeps_keys_and_classes_round_trip():
    model = _tiny()
    before = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    n = set_attention_impl(model, "bool_sdpa")
    assert n == 6 and attention_impl(model) == "bool_sdpa"
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == before
    set_attention_impl(model, "sdpa")
    assert attention_impl(model) == "sdpa"
    assert all(type(m) is MultiheadAttention for m in model.modules() if isinstance(m, MultiheadAttention))
    with pytest.raises(ValueError, match="bool_sdpa"):
        set_attention_impl(model, "flash")


def test_model_config_selects_the_path():
    model = _tiny(attention_impl="bool_sdpa")
    assert attention_impl(model) == "bool_sdpa"
    assert attention_impl(_tiny()) == "sdpa"  # default: upstream's path
    assert attention.IMPLS[0] == "sdpa"
