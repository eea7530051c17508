"""The hybrid CTC/attention criterion (``hybrid_ctc_attention``): CTC targets, the weighted loss from one encoder
pass, its gradients, its validation, its logged parts, and fairseq-train's argparse."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion

import avhubert_ami  # noqa: F401  registers models and criteria
from avhubert_ami.criterions.hybrid_ctc import HybridCTCAttentionCriterion, ctc_targets
from avhubert_ami.testing.models import av_batch, make_dictionary
from tests.support.models import tiny_seq2seq


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
