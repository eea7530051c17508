"""``compile_layers``: compiled training forwards of the encoder/decoder layers, eager everywhere else, one compiled
function shared by every layer of a kind, and a clean skip where ``torch.compile`` is unavailable."""

from __future__ import annotations

import logging

import pytest
import torch
from fairseq.models.wav2vec.wav2vec2 import TransformerSentenceEncoderLayer
from fairseq.modules import TransformerDecoderLayer

import avhubert_ami  # noqa: F401  registers the models
from avhubert_ami.models import speed
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.testing.models import TINY_DECODER, TINY_ENCODER, av_batch, fake_task


def _tiny(**overrides) -> AVHubertSeq2Seq:
    torch.manual_seed(0)
    cfg = AVHubertSeq2SeqConfig(**{**TINY_ENCODER, **TINY_DECODER, **overrides})
    return AVHubertSeq2Seq.build_model(cfg, fake_task())


def _batch(frames=20, tgt_len=7, batch=3):
    b = av_batch(batch=batch, frames=frames, tgt_len=tgt_len, vocab=37)
    b["padding_mask"][1, frames - 8 :] = True
    return b


def _step(model, batch):
    model.zero_grad(set_to_none=True)
    logits, _ = model(**batch)
    logits.float().pow(2).mean().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.fixture
def fresh_compile_cache(monkeypatch):
    """No compiled function left from another test; the probe says compiling works unless a test says otherwise."""
    monkeypatch.setattr(speed, "_COMPILED_FORWARD", {})
    monkeypatch.setattr(speed, "_PROBE", {"cpu": None})


def test_skipped_cleanly_where_compile_is_unavailable(fresh_compile_cache, monkeypatch, caplog):
    monkeypatch.setattr(speed, "_PROBE", {"cpu": "RuntimeError: no C++ compiler"})
    model = _tiny(compile_layers=True).train()  # building (also for decoding) probes nothing
    assert sum(isinstance(m, (speed.CompiledEncoderLayer, speed.CompiledDecoderLayer)) for m in model.modules()) == 4
    ref = _tiny().train()
    with caplog.at_level(logging.WARNING, logger="avhubert_ami.models.speed"):
        got, want = _step(model, _batch()), _step(ref, _batch())  # the first training step finds out, and trains
    assert "torch.compile is unavailable on cpu (RuntimeError: no C++ compiler); encoder layers run uncompiled" in (
        caplog.text
    )
    assert speed._COMPILED_FORWARD == {
        "encoder@cpu": speed._FORWARDS["encoder"],
        "decoder@cpu": speed._FORWARDS["decoder"],
    }
    torch.testing.assert_close(got[0], want[0])


def test_compiled_only_while_training(fresh_compile_cache, monkeypatch):
    model = _tiny()
    assert speed.compile_layers(model) == 4
    used = []

    def fake_compiled(kind, device):  # the uncompiled functions, counted: what dispatches where, without compiling
        return lambda *args: used.append(kind) or speed._FORWARDS[kind](*args)

    monkeypatch.setattr(speed, "_compiled", fake_compiled)
    batch = _batch()
    model.train()
    model(**batch)
    assert used == ["encoder"] * 2 + ["decoder"] * 2
    used.clear()
    model.eval()
    with torch.no_grad():
        model(**batch)
        enc = model.encoder(source=batch["source"], padding_mask=batch["padding_mask"])
        model.decoder(batch["prev_output_tokens"][:, :1], encoder_out=enc, incremental_state={})
    assert used == []  # evaluation and incremental decoding: fairseq's eager code
    assert speed.uncompile_layers(model) == 4
    plain = (TransformerSentenceEncoderLayer, TransformerDecoderLayer)
    layers = [m for m in model.modules() if isinstance(m, plain)]
    assert len(layers) == 4 and all(type(m) in plain for m in layers)


def test_decoder_training_forward_matches_fairseq(fresh_compile_cache):
    """The decoder's compiled function is our copy of fairseq's layer forward: same outputs and gradients."""
    model = _tiny(decoder_dropout=0.0)
    model.train()
    batch = _batch()
    ref = _step(model, batch)
    speed.compile_layers(model)
    # "compiled" = the plain functions: only the code path differs
    speed._COMPILED_FORWARD.update({f"{k}@cpu": f for k, f in speed._FORWARDS.items()})
    got = _step(model, batch)
    torch.testing.assert_close(got[0], ref[0], rtol=1e-5, atol=1e-5)
    for name, grad in ref[1].items():
        torch.testing.assert_close(got[1][name], grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow
def test_one_graph_per_layer_kind_for_every_shape(fresh_compile_cache, monkeypatch):
    """Real dynamo tracing (inductor replaced by the eager backend, so no C++ build): 3 + 3 layers share one graph
    per kind, and later batches of other shapes (batch size, frames, target length) add none."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    monkeypatch.setitem(speed.COMPILE_KWARGS, "backend", "eager")
    model = _tiny(encoder_layers=3, decoder_layers=3)
    model.train()
    ref = _step(model, _batch())
    speed.compile_layers(model)
    counters.clear()
    got = _step(model, _batch())
    torch.testing.assert_close(got[0], ref[0], rtol=1e-5, atol=1e-5)
    for name, grad in ref[1].items():
        torch.testing.assert_close(got[1][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    assert counters["stats"]["unique_graphs"] == 2
    _step(model, _batch(frames=26, tgt_len=9, batch=2))
    _step(model, _batch(frames=31, tgt_len=5, batch=4))
    assert counters["stats"]["unique_graphs"] == 2
    torch._dynamo.reset()
