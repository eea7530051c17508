"""Criterion ``hybrid_ctc_attention``: label-smoothed cross-entropy mixed with CTC on the encoder.

``loss = (1 - ctc_weight) * CE + ctc_weight * CTC`` (the convention of ESPnet and auto_avsr, where
``ctc_weight`` is the share of the CTC branch in [0, 1]). fairseq's own
``label_smoothed_cross_entropy_with_ctc`` adds ``ctc_weight * CTC`` on top of CE and needs the model's
``get_ctc_output``/``get_ctc_target`` (speech_to_text models); we reuse its parent for the CE part and
fairseq's ``ctc`` criterion's target convention (pad and eos removed, blank = ``tgt_dict.bos()``).
``ctc_weight = 0`` computes exactly ``label_smoothed_cross_entropy`` (no CTC term is evaluated).
Both terms are sums over the batch, divided by the same ``sample_size`` (sentences with
``sentence_avg``, as our presets, otherwise target tokens).
"""

# no `from __future__ import annotations`: fairseq's argparse bridge (fairseq-train --criterion
# hybrid_ctc_attention) reads the config fields' types and fails on string annotations
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import torch
import torch.nn.functional as F
from fairseq import utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
)
from fairseq.logging import metrics


@dataclass
class HybridCTCAttentionConfig(LabelSmoothedCrossEntropyCriterionConfig):
    """Label-smoothed CE fields plus the CTC share."""

    ctc_weight: float = field(
        default=0.0,
        metadata={
            "help": "share of the CTC loss: (1-w)*CE + w*CTC; 0 = attention-only (needs model.ctc_head when > 0)"
        },
    )
    zero_infinity: bool = field(
        default=True, metadata={"help": "zero CTC losses of utterances shorter (in frames) than their targets"}
    )


def ctc_targets(target: torch.Tensor, pad: int, eos: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flat CTC targets and their lengths from a padded ``B x L`` target (pad and eos removed)."""
    keep = target.ne(pad) & target.ne(eos)
    return target.masked_select(keep), keep.long().sum(-1)


def ctc_input_lengths(encoder_out: Dict[str, Any]) -> torch.Tensor:
    """Frames per utterance of an encoder output (``encoder_padding_mask`` True = pad)."""
    x, pad_mask = encoder_out["encoder_out"], encoder_out.get("encoder_padding_mask")
    if pad_mask is None:
        return torch.full((x.size(1),), x.size(0), dtype=torch.long, device=x.device)
    return (~pad_mask).long().sum(-1)


@register_criterion("hybrid_ctc_attention", dataclass=HybridCTCAttentionConfig)
class HybridCTCAttentionCriterion(LabelSmoothedCrossEntropyCriterion):
    """``(1 - w) * label-smoothed CE + w * CTC``; one encoder pass serves both terms."""

    def __init__(
        self,
        task,
        sentence_avg,
        label_smoothing,
        ignore_prefix_size=0,
        report_accuracy=False,
        ctc_weight: float = 0.0,
        zero_infinity: bool = True,
    ) -> None:
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"criterion.ctc_weight must be in [0, 1], got {ctc_weight}")
        self.ctc_weight = float(ctc_weight)
        self.zero_infinity = zero_infinity
        self.eos_idx = task.target_dictionary.eos()

    def ctc_loss(self, model, net_output, sample, reduce: bool = True) -> torch.Tensor:
        """Summed (or per-utterance) CTC loss of the encoder output carried in ``net_output``."""
        if not getattr(model, "has_ctc_head", False):
            raise ValueError(
                "criterion.ctc_weight > 0 needs a model with a CTC head: set model.ctc_head=true "
                "(the guide CLI's --ctc_weight sets both)"
            )
        encoder_out = net_output[1]["encoder_out"]
        lprobs = model.ctc_log_probs(encoder_out)
        targets, target_lengths = ctc_targets(sample["target"], self.padding_idx, self.eos_idx)
        return F.ctc_loss(
            lprobs,
            targets,
            ctc_input_lengths(encoder_out),
            target_lengths,
            blank=model.ctc_blank,
            reduction="sum" if reduce else "none",
            zero_infinity=self.zero_infinity,
        )

    def forward(self, model, sample, reduce: bool = True):
        """Loss, sample size and logging outputs (``ctc_loss`` and ``att_loss`` beside fairseq's keys)."""
        net_output = model(**sample["net_input"])
        att_loss, nll_loss = self.compute_loss(model, net_output, sample, reduce=reduce)
        if self.ctc_weight > 0.0:
            ctc = self.ctc_loss(model, net_output, sample, reduce=reduce)
            loss = (1.0 - self.ctc_weight) * att_loss + self.ctc_weight * ctc
        else:
            ctc, loss = None, att_loss
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        logging_output = {
            "loss": loss.data,
            "nll_loss": nll_loss.data,
            "ntokens": sample["ntokens"],
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
        }
        if ctc is not None:
            logging_output["ctc_loss"] = utils.item(ctc.data)
            logging_output["att_loss"] = utils.item(att_loss.data)
        if self.report_accuracy:
            n_correct, total = self.compute_accuracy(model, net_output, sample)
            logging_output["n_correct"] = utils.item(n_correct.data)
            logging_output["total"] = utils.item(total.data)
        return loss, sample_size, logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs: List[Dict[str, Any]]) -> None:
        """fairseq's CE metrics, plus ``ctc_loss``/``att_loss`` (base 2, per sample_size) when present."""
        super().reduce_metrics(logging_outputs)
        if not any("ctc_loss" in log for log in logging_outputs):
            return
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for key in ("ctc_loss", "att_loss"):
            total = sum(log.get(key, 0) for log in logging_outputs)
            metrics.log_scalar(key, total / sample_size / math.log(2), sample_size, round=3)
