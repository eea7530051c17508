"""Word and character error rates (editdistance), shared by validation, scorers and decoding."""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Tuple

import editdistance

_PUNCT = re.compile(r"[^\w\s']", flags=re.UNICODE)


def normalize_text(text: str) -> str:
    """Lower-case, strip punctuation (apostrophes kept) and collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCT.sub(" ", text).split())


def error_counts(hyp: str, ref: str, char_level: bool = False) -> Tuple[int, int]:
    """Edit distance and reference length, in words (default) or characters (spaces excluded)."""
    hyp, ref = normalize_text(hyp), normalize_text(ref)
    if char_level:
        h, r = list(hyp.replace(" ", "")), list(ref.replace(" ", ""))
    else:
        h, r = hyp.split(), ref.split()
    return editdistance.eval(h, r), len(r)


def error_rate(hyps: Iterable[str], refs: Iterable[str], char_level: bool = False) -> float:
    """Corpus-level WER (or CER) in percent: total edits / total reference length."""
    hyps, refs = list(hyps), list(refs)
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    errors = length = 0
    for h, r in zip(hyps, refs):
        e, n = error_counts(h, r, char_level)
        errors += e
        length += n
    return 100.0 * errors / max(length, 1)


_SPM_SPACE = "\u2581"


def sentencepiece_to_text(text: str) -> str:
    """Undo sentencepiece segmentation (``▁he llo`` -> ``hello``); text without ``▁`` is returned unchanged.

    Lets the ``cer`` scorer give the same result whether or not fairseq-generate was run with
    ``--post-process sentencepiece``.
    """
    if _SPM_SPACE not in text:
        return text
    return " ".join("".join(text.split()).replace(_SPM_SPACE, " ").split())


def _register_fairseq_scorers() -> None:
    """Register the ``cer`` scorer for ``fairseq-generate --scoring cer`` (``wer`` is fairseq's own)."""
    from dataclasses import field, make_dataclass

    from fairseq.dataclass import FairseqDataclass
    from fairseq.scoring import SCORER_REGISTRY, BaseScorer, register_scorer

    if "cer" in SCORER_REGISTRY:
        return

    # make_dataclass: real (not string) annotations, which fairseq's argparse generation needs
    CerScorerConfig = make_dataclass("CerScorerConfig", [(
        "cer_keep_case_punct", bool, field(
            default=False,
            metadata={"help": "score raw characters (default: lower-case, punctuation stripped, as "
                      "avhubert_ami.scoring.normalize_text does for the references)"},
        ),
    )], bases=(FairseqDataclass,))

    @register_scorer("cer", dataclass=CerScorerConfig)
    class CerScorer(BaseScorer):
        """Character error rate in percent over the corpus (spaces excluded), sentencepiece-aware."""

        def __init__(self, cfg):
            super().__init__(cfg)
            self.reset()

        def reset(self) -> None:
            self.distance = 0
            self.ref_length = 0

        def add_string(self, ref: str, pred: str) -> None:
            ref, pred = sentencepiece_to_text(ref), sentencepiece_to_text(pred)
            if self.cfg.cer_keep_case_punct:
                r, h = list(ref.replace(" ", "")), list(pred.replace(" ", ""))
                self.distance += editdistance.eval(h, r)
                self.ref_length += len(r)
            else:
                e, n = error_counts(pred, ref, char_level=True)
                self.distance += e
                self.ref_length += n

        def score(self) -> float:
            return 100.0 * self.distance / self.ref_length if self.ref_length > 0 else 0.0

        def result_string(self) -> str:
            return f"CER: {self.score():.2f}"


_register_fairseq_scorers()
