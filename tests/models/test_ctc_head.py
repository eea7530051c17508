"""CTC head of ``av_hubert_seq2seq`` (issue 12 §1) and the frozen encoder's eval mode (§4b)."""

from __future__ import annotations

import logging
import math

import pytest
import torch

import avhubert_ami  # noqa: F401  registers models
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.testing.models import TINY_DECODER, TINY_ENCODER, av_batch, fake_task


def tiny_seq2seq(**overrides) -> AVHubertSeq2Seq:
    torch.manual_seed(0)
    cfg = AVHubertSeq2SeqConfig(**{**TINY_ENCODER, **TINY_DECODER, **overrides})
    return AVHubertSeq2Seq.build_model(cfg, fake_task(n_labels=50, n_target=37))


def test_no_head_by_default_and_layout_unchanged():
    plain, hybrid = tiny_seq2seq(), tiny_seq2seq(ctc_head=True)
    assert not plain.has_ctc_head and plain.ctc_proj is None
    assert hybrid.has_ctc_head
    extra = set(hybrid.state_dict()) - set(plain.state_dict())
    assert extra == {"ctc_proj.weight", "ctc_proj.bias"}
    assert hybrid.ctc_proj.weight.shape == (41, 64)  # len(tgt_dict) x encoder dim
    with pytest.raises(RuntimeError, match="no CTC head"):
        plain.ctc_log_probs({"encoder_out": torch.zeros(3, 1, 64)})


@pytest.mark.parametrize("audio,video", [(True, True), (True, False), (False, True)])
def test_ctc_log_probs_from_the_forward_encoder_pass(audio, video):
    model = tiny_seq2seq(ctc_head=True).eval()
    batch = av_batch(batch=2, frames=10, tgt_len=4, audio=audio, video=video)
    _, extra = model(**batch)
    enc = extra["encoder_out"]  # the same pass the decoder used
    lprobs = model.ctc_log_probs(enc)
    assert lprobs.shape == (10, 2, 41) and lprobs.dtype == torch.float32
    torch.testing.assert_close(lprobs.exp().sum(-1), torch.ones(10, 2))
    again = model.ctc_log_probs(model.encoder(batch["source"], batch["padding_mask"]))
    torch.testing.assert_close(lprobs, again)
    assert model.ctc_blank == 0  # tgt_dict.bos(), as fairseq's ctc criterion


def test_checkpoint_without_head_loads_strictly_and_logs(caplog):
    plain, hybrid = tiny_seq2seq(), tiny_seq2seq(ctc_head=True)
    for p in plain.parameters():
        p.data.add_(0.5)
    head = {k: v.clone() for k, v in hybrid.ctc_proj.state_dict().items()}
    with caplog.at_level(logging.INFO, logger="avhubert_ami.models.seq2seq"):
        hybrid.load_state_dict(plain.state_dict(), strict=True)
    assert "created ctc_proj" in caplog.text
    for key, val in plain.state_dict().items():
        assert torch.equal(hybrid.state_dict()[key], val), key
    assert all(torch.equal(hybrid.ctc_proj.state_dict()[k], v) for k, v in head.items())


def test_checkpoint_with_head_into_model_without_head(caplog):
    plain, hybrid = tiny_seq2seq(), tiny_seq2seq(ctc_head=True)
    with caplog.at_level(logging.WARNING, logger="avhubert_ami.models.seq2seq"):
        plain.load_state_dict(hybrid.state_dict(), strict=True)
    assert "ignoring ctc_proj" in caplog.text


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


# ------------------------------------------------------------------ criterion hybrid_ctc_attention
from types import SimpleNamespace  # noqa: E402

import torch.nn.functional as F  # noqa: E402
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion  # noqa: E402

from avhubert_ami.criterions.hybrid_ctc import HybridCTCAttentionCriterion, ctc_targets  # noqa: E402
from avhubert_ami.testing.models import make_dictionary  # noqa: E402


def _sample(tgt_len: int = 4, **kw):
    batch = av_batch(batch=2, frames=10, tgt_len=tgt_len, **kw)
    target = torch.cat([batch["prev_output_tokens"][:, 1:], torch.full((2, 1), 2)], dim=1)  # ... </s>
    target[1, -2:] = torch.tensor([2, 1])  # shorter second row: eos then pad
    return {"net_input": batch, "target": target, "ntokens": int(target.ne(1).sum())}


def _criterion(weight: float):
    task = SimpleNamespace(target_dictionary=make_dictionary(37))
    return HybridCTCAttentionCriterion(
        task, sentence_avg=True, label_smoothing=0.1, report_accuracy=True, ctc_weight=weight
    )


def test_ctc_targets_drop_pad_and_eos():
    flat, lengths = ctc_targets(torch.tensor([[5, 6, 2, 1], [7, 2, 1, 1]]), pad=1, eos=2)
    assert flat.tolist() == [5, 6, 7] and lengths.tolist() == [2, 1]


def test_weight_zero_is_exactly_label_smoothed_cross_entropy():
    model, sample = tiny_seq2seq().eval(), _sample()
    task = SimpleNamespace(target_dictionary=make_dictionary(37))
    ref = LabelSmoothedCrossEntropyCriterion(task, True, 0.1, report_accuracy=True)
    loss, size, log = _criterion(0.0)(model, sample)
    ref_loss, ref_size, ref_log = ref(model, sample)
    assert torch.equal(loss, ref_loss) and size == ref_size
    assert set(log) == set(ref_log) and "ctc_loss" not in log


def test_hybrid_loss_mixes_ce_and_ctc_from_one_encoder_pass():
    model, sample = tiny_seq2seq(ctc_head=True).eval(), _sample()
    calls = []
    model.encoder.register_forward_hook(lambda *a: calls.append(1))
    loss, _, log = _criterion(0.3)(model, sample)
    assert len(calls) == 1
    ce, _ = _criterion(0.0).compute_loss(model, model(**sample["net_input"]), sample)
    enc = model.encoder(sample["net_input"]["source"], sample["net_input"]["padding_mask"])
    lengths = (~enc["encoder_padding_mask"]).sum(-1)
    assert lengths.tolist() == [10, 7]
    ctc = F.ctc_loss(
        model.ctc_log_probs(enc),
        torch.cat([sample["target"][0, :3], sample["target"][1, :2]]),
        lengths,
        torch.tensor([3, 2]),
        blank=0,
        reduction="sum",
        zero_infinity=True,
    )
    torch.testing.assert_close(loss, 0.7 * ce + 0.3 * ctc)
    assert log["ctc_loss"] == pytest.approx(ctc.item(), rel=1e-5)


@pytest.mark.parametrize("freeze", [False, True])
def test_ctc_gradients_reach_head_and_unfrozen_encoder(freeze):
    model = tiny_seq2seq(ctc_head=True, freeze_encoder=freeze, feature_grad_mult=1.0, audio_drop_prob=0.3)
    model.train()
    loss, _, _ = _criterion(1.0)(model, _sample())  # CTC only: the decoder gets no gradient
    loss.backward()
    assert model.ctc_proj.weight.grad.abs().sum() > 0
    enc_grads = [p.grad for p in model.encoder.w2v_model.encoder.parameters()]
    assert all(g is None for g in enc_grads) if freeze else all(g is not None for g in enc_grads)


def test_weight_needs_a_head_and_a_valid_range():
    with pytest.raises(ValueError, match="model.ctc_head=true"):
        _criterion(0.3)(tiny_seq2seq(), _sample())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _criterion(1.5)


def test_reduce_metrics_logs_ctc_and_attention_parts():
    from fairseq.logging import metrics

    logs = [
        {
            "loss": 3.0,
            "nll_loss": 2.0,
            "ntokens": 4,
            "nsentences": 2,
            "sample_size": 2,
            "ctc_loss": 4.0,
            "att_loss": 2.0,
        }
    ]
    with metrics.aggregate() as agg:
        HybridCTCAttentionCriterion.reduce_metrics(logs)
    assert agg.get_smoothed_value("ctc_loss") == pytest.approx(round(4.0 / 2 / math.log(2), 3))


def test_argparse_fairseq_train_accepts_the_hybrid_criterion():
    """fairseq-train (argparse) builds flags from the criterion config's field types: string annotations
    (``from __future__ import annotations``) made it fail with "field should be a type"."""
    from fairseq import options

    args = options.parse_args_and_arch(
        options.get_training_parser(),
        [
            "/tmp",
            "--task",
            "ami_av",
            "--arch",
            "av_hubert_seq2seq",
            "--criterion",
            "hybrid_ctc_attention",
            "--ctc-weight",
            "0.3",
        ],
    )
    assert args.criterion == "hybrid_ctc_attention" and args.ctc_weight == 0.3
