"""AV-HuBERT models: upstream key/shape parity, forward shapes, modality presence, fusion, decoder, pretraining
forward, attention implementations."""

from __future__ import annotations

import pytest
import torch

import avhubert_ami  # noqa: F401  registers models
from avhubert_ami.models.encoder import AVHubertConfig, AVHubertModel
from avhubert_ami.models.pretrain import same_seq_source_index
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.testing.models import SIZES, TINY_ENCODER, av_batch, fake_task
from tests.support.models import reference_keys, state_layout, tiny_seq2seq

TOTALS = {
    ("base", "pretrain"): 102_840_700,
    ("base", "seq2seq"): 159_387_516,
    ("large", "pretrain"): 324_908_924,
    ("large", "seq2seq"): 475_860_604,
}


def _layout_diff(got, want):
    return {
        "missing": sorted(set(want) - set(got))[:5],
        "extra": sorted(set(got) - set(want))[:5],
        "shape": [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]][:5],
    }


@pytest.fixture(scope="module", params=["base", pytest.param("large", marks=pytest.mark.slow)])
def upstream_layouts(request):
    """Build pretrain + seq2seq of one size once (large is ~2 GB of fp32; no forward)."""
    size = request.param
    enc, dec = SIZES[size]
    torch.manual_seed(0)
    pre = AVHubertModel.build_model(AVHubertConfig(**enc), fake_task(n_labels=50))
    got = {"pretrain": (state_layout(pre), sum(v.numel() for v in pre.state_dict().values()))}
    del pre
    s2s = AVHubertSeq2Seq.build_model(
        AVHubertSeq2SeqConfig(**enc, **dec, pretrain_label_classes=[54]), fake_task(n_labels=50, n_target=37)
    )
    got["seq2seq"] = (state_layout(s2s), sum(v.numel() for v in s2s.state_dict().values()))
    del s2s
    return size, got


@pytest.mark.parametrize("kind", ["pretrain", "seq2seq"])
def test_state_dict_matches_upstream(upstream_layouts, kind):
    size, got = upstream_layouts
    layout, total = got[kind]
    want = reference_keys(size)[kind]
    assert layout == want, _layout_diff(layout, want)
    assert list(layout) == list(want)  # same order too
    assert total == TOTALS[(size, kind)]


@pytest.fixture(scope="module")
def tiny():
    return tiny_seq2seq()


@pytest.mark.parametrize("audio,video", [(True, True), (True, False), (False, True)])
def test_forward_shapes(tiny, audio, video):
    tiny.eval()
    batch = av_batch(batch=2, frames=10, tgt_len=4, audio=audio, video=video)
    if not audio:
        batch["source"]["audio"] = None
    if not video:
        batch["source"]["video"] = None
    logits, extra = tiny(**batch)
    assert logits.shape == (2, 4, 41)
    assert torch.isfinite(logits).all()
    enc = tiny.encoder(batch["source"], batch["padding_mask"])
    assert enc["encoder_out"].shape == (10, 2, 64)
    assert torch.equal(enc["padding_mask"], batch["padding_mask"])


def test_mixed_presence_rows_match_single_modality_runs(tiny):
    """A row marked audio-absent is encoded exactly like a video-only input (and vice versa)."""
    tiny.eval()
    w2v = tiny.encoder.w2v_model
    batch = av_batch(batch=3, frames=8)
    src = batch["source"]
    src["present"] = torch.tensor([[True, True], [False, True], [True, False]])
    with torch.no_grad():
        mixed, _ = w2v.extract_finetune(src)
        av, _ = w2v.extract_finetune({"audio": src["audio"][:1], "video": src["video"][:1]})
        v_only, _ = w2v.extract_finetune({"audio": None, "video": src["video"][1:2]})
        a_only, _ = w2v.extract_finetune({"audio": src["audio"][2:3], "video": None})
    torch.testing.assert_close(mixed[0:1], av, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mixed[1:2], v_only, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mixed[2:3], a_only, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(mixed[1:2], av)


def test_missing_both_modalities_is_an_error(tiny):
    with pytest.raises(ValueError, match="neither"):
        tiny.encoder.w2v_model.extract_finetune({"audio": None, "video": None})


def test_per_sample_drop_never_drops_both():
    model = tiny_seq2seq(audio_drop_prob=0.5, visual_drop_prob=0.5).encoder.w2v_model
    model.train()
    present = model._presence({"audio": torch.zeros(4000, 104, 2), "video": torch.zeros(4000, 1, 2, 1, 1)})
    assert present.any(dim=1).all()
    frac_audio_dropped = (~present[:, 0]).float().mean().item()
    assert 0.45 < frac_audio_dropped < 0.55
    model.eval()
    assert model._presence({"audio": torch.zeros(3, 104, 2), "video": torch.zeros(3, 1, 2, 1, 1)}) is None


def test_drop_probs_validated():
    with pytest.raises(ValueError, match="<= 1"):
        tiny_seq2seq(audio_drop_prob=0.7, visual_drop_prob=0.6)


@pytest.mark.parametrize("fuse", ["concat", "add"])
def test_fusion_modes_run(fuse):
    model = tiny_seq2seq(modality_fuse=fuse)
    w2v = model.encoder.w2v_model
    assert (w2v.post_extract_proj is None) == (fuse == "add")
    assert w2v.layer_norm.weight.shape[0] == (128 if fuse == "concat" else 64)
    model.eval()
    logits, _ = model(**av_batch(batch=2, frames=6, tgt_len=3))
    assert logits.shape == (2, 3, 41)


def test_decoder_embed_scale_and_sharing():
    scaled = tiny_seq2seq(no_scale_embedding=False, share_decoder_input_output_embed=False)
    assert scaled.decoder.embed_scale == pytest.approx(8.0)  # sqrt(64)
    assert "decoder.embed_out" in scaled.state_dict()
    plain = tiny_seq2seq()
    assert plain.decoder.embed_scale == 1.0 and "decoder.embed_out" not in plain.state_dict()


def test_incremental_decoding_matches_teacher_forcing(tiny):
    tiny.eval()
    batch = av_batch(batch=2, frames=8, tgt_len=4)
    with torch.no_grad():
        enc = tiny.encoder(batch["source"], batch["padding_mask"])
        full, _ = tiny.decoder(batch["prev_output_tokens"], encoder_out=enc)
        state = {}
        steps = [
            tiny.decoder(batch["prev_output_tokens"][:, : t + 1], encoder_out=enc, incremental_state=state)[0]
            for t in range(4)
        ]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ pretraining model
def tiny_pretrain(**overrides) -> AVHubertModel:
    torch.manual_seed(0)
    enc = {k: v for k, v in TINY_ENCODER.items()}
    cfg = AVHubertConfig(
        **{
            **enc,
            "label_rate": 25,
            "mask_prob_image": 0.3,
            "mask_length_image": 2,
            "mask_prob_audio": 0.5,
            "mask_length_audio": 2,
            **overrides,
        }
    )
    return AVHubertModel.build_model(cfg, fake_task(n_labels=50))


@pytest.mark.parametrize("selection", ["same_other_seq", "same_seq"])
def test_pretraining_forward(selection):
    model = tiny_pretrain(selection_type=selection, modality_dropout=0.5, audio_dropout=0.5)
    model.train()
    b = av_batch(batch=3, frames=20)
    targets = [torch.randint(0, 54, (3, 20))]
    out = model(b["source"], target_list=targets, padding_mask=b["padding_mask"])
    n_valid = int((~b["padding_mask"]).sum())
    assert out["logit_m_list"][0].shape[0] + out["logit_u_list"][0].shape[0] == n_valid
    assert out["logit_m_list"][0].shape[0] > 0 and out["logit_m_list"][0].shape[1] == 54
    loss = torch.nn.functional.cross_entropy(out["logit_m_list"][0], out["target_m_list"][0])
    (loss + out["features_pen"]).backward()
    assert model.label_embs_concat.grad is not None


def test_same_seq_source_index_copies_from_outside_the_span():
    torch.manual_seed(1)
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[0, 5:9] = True
    mask[1, 20:23] = True
    src = same_seq_source_index(mask)
    t = torch.arange(30)
    assert torch.equal(src[~mask], t.expand(2, 30)[~mask])  # unmasked frames unchanged
    for b, (s, e) in enumerate([(5, 9), (20, 23)]):
        run = src[b, s:e]
        length = e - s
        assert torch.all(run[1:] - run[:-1] <= 1)  # a contiguous run (clipped at the end)
        start = int(run[0])
        assert not (max(0, s - length) <= start < e)


def test_sdpa_and_eager_attention_agree():
    from avhubert_ami.models.attention import set_attention_impl

    model = tiny_seq2seq()
    model.train()  # training mode: fairseq's fused path for all attentions; all dropouts set to 0 below
    model.decoder.dropout = 0.0
    for m in model.modules():  # nn.Dropout and fairseq's FairseqDropout both keep the rate in .p
        if isinstance(getattr(m, "p", None), float):
            m.p = 0.0
    batch = av_batch(batch=2, frames=8, tgt_len=4)
    outs = {}
    for impl in ("sdpa", "eager"):
        assert set_attention_impl(model, impl) == 2 + 2 * 2  # 2 encoder layers, 2 decoder layers x (self, cross)
        torch.manual_seed(0)
        outs[impl] = model(**batch)[0]
    torch.testing.assert_close(outs["sdpa"], outs["eager"], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="sdpa"):
        set_attention_impl(model, "flash")
