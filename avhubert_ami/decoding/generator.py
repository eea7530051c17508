"""fairseq's SequenceGenerator for dict sources (``source={"audio", "video", "present"}``).

fairseq's generator reads the batch size, source length, device and dtype from
``net_input["src_tokens"]`` (or a tensor ``source``). Upstream AV-HuBERT copies the whole
generator to special-case its dict source. Here the stock generator runs on a proxy
``net_input`` (a zero-cost expanded ``src_tokens`` of shape ``B x T`` plus ``src_lengths``
from the padding mask), and the ensemble hands the real ``net_input`` to the encoders.

Joint CTC/attention search (``ctc_weight`` > 0): each step the ensemble scores a pre-beam of candidates
per hypothesis (the best ``1.5 x beam`` by attention (+ LM) score, as ESPnet; all tokens at weight 1) with CTC prefix
scores
(:mod:`avhubert_ami.decoding.ctc_prefix_score`) and returns ``(1 - w) * attention + w * ctc (+ lm)`` for them
(-inf elsewhere); end of sentence gets the full-sequence CTC probability. The prefix state follows the
beam through ``reorder_incremental_state``. With ``ctc_weight`` = 0 nothing of this runs.

Non-finite decoder or CTC scores (a diverged checkpoint) stop decoding with the utterance ids
(:class:`~avhubert_ami.errors.NonFiniteModelError`, a failure of the work: one line and exit status 1 from every
command line, fairseq-generate included), instead of fairseq's ``AssertionError: 200 < 200`` when every candidate ends
up at -inf.

A language model (``lm_model``: fairseq-generate's ``--lm-path``, or :func:`avhubert_ami.lm.task.load_lm`'s) is fused
only once :func:`avhubert_ami.lm.task.fusion_lm` has checked its dictionary against the recogniser's (mapped by symbol
when the order differs, refused when a symbol is missing).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import torch
from fairseq.sequence_generator import EnsembleModel, SequenceGenerator
from torch import Tensor

from avhubert_ami.decoding.ctc_prefix_score import CTCPrefixScorer
from avhubert_ami.errors import NonFiniteModelError

_REAL_INPUT = "_av_net_input"
#: candidates scored by CTC per hypothesis and step, relative to the beam (ESPnet's pre_beam_ratio)
PRE_BEAM_RATIO = 1.5


class NonFiniteScoresError(FloatingPointError):
    """NaN / +inf scores from the model; ``sentences`` are batch positions (rows of the input batch)."""

    def __init__(self, what: str, sentences: Sequence[int]) -> None:
        super().__init__(f"non-finite {what} scores for batch positions {list(sentences)}")
        self.what, self.sentences = what, list(sentences)


def _non_finite_rows(x: Tensor, dim: int) -> Tensor:
    """Bool per index of ``dim``: any NaN or +inf along the other dimensions (-inf is a valid log-prob)."""
    bad = torch.isnan(x) | torch.isposinf(x)
    return bad.transpose(0, dim).reshape(x.size(dim), -1).any(1)


class AVEnsembleModel(EnsembleModel):
    """EnsembleModel whose encoders receive the real audio-visual ``net_input``; optional joint CTC scoring."""

    def __init__(self, models, ctc_weight: float = 0.0, blank: int = 0, eos: int = 2, pad: int = 1) -> None:
        super().__init__(models)
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {ctc_weight}")
        if ctc_weight > 0:
            missing = [i for i, m in enumerate(models) if not getattr(m, "has_ctc_head", False)]
            if missing:
                raise ValueError(
                    f"ctc_weight={ctc_weight} needs a model with a CTC head, but model(s) {missing} of the ensemble "
                    "have none (train with model.ctc_head=true / --ctc_weight > 0, or decode with ctc_weight=0)"
                )
        self.ctc_weight, self.blank, self.eos, self.pad = float(ctc_weight), blank, eos, pad
        self.beam_size = 1
        self.lm_model: Optional[torch.nn.Module] = None
        self.lm_weight = 0.0
        self._n_sentences = 0
        self._rows: Optional[Tensor] = None  # batch position of each hypothesis row
        self._ctc_inputs = None  # (T x B x V log-probs, B lengths) of the current batch
        self._ctc: Optional[CTCPrefixScorer] = None

    def set_lm(self, lm_model: torch.nn.Module, lm_weight: float) -> None:
        """Fuse ``lm_model`` here (before the CTC pre-beam) instead of in fairseq's generator loop."""
        self.lm_model, self.lm_weight = lm_model, float(lm_weight)

    def set_decoder_beam_size(self, beam_size: int) -> None:
        super().set_decoder_beam_size(beam_size)
        self.beam_size = beam_size

    def forward_encoder(self, net_input: Dict[str, Tensor]):
        outs = super().forward_encoder(net_input.get(_REAL_INPUT, net_input))
        self._rows, self._ctc, self._ctc_inputs = None, None, None
        self._n_sentences = outs[0]["encoder_out"].size(1)
        if self.ctc_weight > 0:
            self._ctc_inputs = self._ctc_log_probs(outs)
        return outs

    def _ctc_log_probs(self, encoder_outs: List[Dict]):
        """Ensemble-averaged (probability domain) CTC log-probs T x B x V and valid frames per sentence."""
        lps = [m.ctc_log_probs(o).float() for m, o in zip(self.models, encoder_outs)]
        lp = lps[0] if len(lps) == 1 else torch.logsumexp(torch.stack(lps), 0) - math.log(len(lps))
        bad = _non_finite_rows(lp, 1)
        if bad.any():
            raise NonFiniteScoresError("CTC", bad.nonzero().flatten().tolist())
        mask = encoder_outs[0].get("encoder_padding_mask")
        if mask is None:
            lengths = torch.full((lp.size(1),), lp.size(0), dtype=torch.long, device=lp.device)
        else:
            lengths = (~mask).long().sum(1)
        return lp, lengths

    def forward_decoder(self, tokens: Tensor, encoder_outs, incremental_states, temperature: float = 1.0):
        lprobs, attn = super().forward_decoder(tokens, encoder_outs, incremental_states, temperature)
        if self._rows is None:
            n = tokens.size(0)
            self._rows = torch.arange(self._n_sentences, device=tokens.device).repeat_interleave(
                max(1, n // max(1, self._n_sentences))
            )[:n]
        bad = _non_finite_rows(lprobs, 0)
        if bad.any():
            raise NonFiniteScoresError("decoder", sorted(set(self._rows[bad].tolist())))
        if self.ctc_weight > 0:
            lprobs = self._joint_scores(tokens, lprobs)
        return lprobs, attn

    def _joint_scores(self, tokens: Tensor, att: Tensor) -> Tensor:
        """``(1 - w) * att + w * ctc_delta (+ lm)`` on a pre-beam of candidates and eos, -inf elsewhere."""
        w = self.ctc_weight
        lm = 0.0
        if self.lm_model is not None:  # as fairseq's generator does it (full prefix, no incremental state)
            lm_out = self.lm_model(tokens)
            lm = self.lm_model.get_normalized_probs(lm_out, log_probs=True, sample=None)[:, -1, :] * self.lm_weight
        full = att * (1.0 - w) + lm
        if self._ctc is None:
            lp, lengths = self._ctc_inputs
            self._ctc = CTCPrefixScorer(lp, lengths, self._rows, self.blank)
        else:
            self._ctc.advance(tokens[:, -1])
        vocab = full.size(1)
        # CTC alone (w = 1, as ESPnet) scores the whole vocabulary: the decoder has no say in the pre-beam
        k = vocab - 3 if w >= 1.0 else min(max(2, int(PRE_BEAM_RATIO * self.beam_size)), vocab - 3)
        pre = full.clone()
        pre[:, [self.blank, self.pad, self.eos]] = -math.inf
        cands = pre.topk(k, dim=1).indices
        delta, eos_delta = self._ctc.score(cands)
        out = torch.full_like(full, -math.inf)
        out.scatter_(1, cands, full.gather(1, cands) + w * delta.to(full))
        out[:, self.eos] = full[:, self.eos] + w * eos_delta.to(full)
        return out

    def reorder_incremental_state(self, incremental_states, new_order: Tensor) -> None:
        super().reorder_incremental_state(incremental_states, new_order)
        if self._rows is not None:
            self._rows = self._rows[new_order]
        if self._ctc is not None:
            self._ctc.reorder(new_order)


def proxy_net_input(net_input: Dict) -> Dict:
    """A ``net_input`` that fairseq's generator understands, wrapping the real one."""
    if "src_tokens" in net_input:
        return net_input
    padding_mask: Optional[torch.Tensor] = net_input.get("padding_mask")
    source = net_input["source"]
    if padding_mask is not None:
        bsz, length = padding_mask.shape
        device = padding_mask.device
        lengths = (~padding_mask).long().sum(-1)
    else:
        ref = source["audio"] if source.get("audio") is not None else source["video"]
        bsz, length, device = ref.shape[0], ref.shape[2], ref.device  # audio B,F,T / video B,C,T,H,W
        lengths = torch.full((bsz,), length, dtype=torch.long, device=device)
    src_tokens = torch.zeros(1, 1, dtype=torch.long, device=device).expand(bsz, length)
    return {"src_tokens": src_tokens, "src_lengths": lengths, _REAL_INPUT: net_input}


class AVSequenceGenerator(SequenceGenerator):
    """Beam search / greedy decoding of ``av_hubert_seq2seq`` models on audio-visual batches.

    ``max_len = max_len_a * T + max_len_b`` with ``T`` the number of 25 Hz frames.
    """

    #: where the model comes from, for error messages (a checkpoint path, "validation during training")
    context: str = ""

    def __init__(self, models, tgt_dict, ctc_weight: float = 0.0, **kwargs) -> None:
        if not isinstance(models, EnsembleModel):
            models = AVEnsembleModel(models, ctc_weight, blank=tgt_dict.bos(), eos=tgt_dict.eos(), pad=tgt_dict.pad())
        elif ctc_weight > 0 and not isinstance(models, AVEnsembleModel):
            raise ValueError("ctc_weight > 0 needs an AVEnsembleModel")
        if kwargs.get("lm_model") is not None:
            from avhubert_ami.lm.task import fusion_lm

            kwargs["lm_model"] = fusion_lm(kwargs["lm_model"], tgt_dict)
        super().__init__(models, tgt_dict, **kwargs)
        self.ctc_weight = float(ctc_weight)
        if self.ctc_weight > 0 and self.lm_model is not None:
            # the LM must rank the CTC pre-beam, so the ensemble adds it before; fairseq's loop must not again
            self.model.set_lm(self.lm_model, self.lm_weight)
            self.lm_model = None

    def _generate(self, sample: Dict, prefix_tokens: Optional[Tensor] = None, *args, **kwargs):
        if prefix_tokens is not None and self.ctc_weight > 0:
            raise NotImplementedError("--prefix-size with ctc_weight > 0 is not supported")
        sample = dict(sample)
        sample["net_input"] = proxy_net_input(sample["net_input"])
        try:
            return super()._generate(sample, prefix_tokens, *args, **kwargs)
        except NonFiniteScoresError as e:
            raise NonFiniteModelError(non_finite_message(e, sample, self.context)) from None


def non_finite_message(err: NonFiniteScoresError, sample: Dict, context: str = "") -> str:
    """Which utterances (ids from the batch) got NaN/inf scores, and what that usually means."""
    utt_ids = sample.get("utt_id")
    ids = sample.get("id")
    names = []
    for pos in err.sentences:
        name = str(utt_ids[pos]) if utt_ids is not None and pos < len(utt_ids) else f"batch position {pos}"
        if isinstance(ids, Tensor) and pos < ids.numel():
            name += f" (dataset index {int(ids[pos])})"
        names.append(name)
    where = f" [{context}]" if context else ""
    return (
        f"the model produced NaN/inf {err.what} scores{where} for utterance(s) {', '.join(names)}: its weights "
        "or these inputs are not finite (a diverged or corrupt checkpoint: look for NaN losses in its training "
        "log). Decoding stopped here; fairseq's search would otherwise fail with 'AssertionError: N < N'."
    )
