"""fairseq-generate scorers ``--scoring cer`` and ``--scoring ami_wer``, declared like fairseq's own
(``fairseq/scoring/wer.py``): a config dataclass and a ``@register_scorer`` class at module level.

fairseq's ``wer`` has no choice of text normaliser; these score with :mod:`avhubert_ami.scoring.wer` (the same
normalisers as validation and ``avhubert-decode``) and undo sentencepiece segmentation themselves, so the
result does not depend on ``--post-process``. Importing ``avhubert_ami`` with fairseq registers them.
"""

# No `from __future__ import annotations`: fairseq builds the argparse options of a scorer's config from
# its real (not string) field annotations.
from dataclasses import dataclass, field

import editdistance
from fairseq.dataclass import FairseqDataclass
from fairseq.scoring import BaseScorer, register_scorer

from avhubert_ami.scoring.text import DEFAULT_NORMALIZER, NORMALIZERS, check_normalizer
from avhubert_ami.scoring.wer import error_counts, sentencepiece_to_text

# a plain str (not a ChoiceEnum) keeps the option printable in results; checked when the scorer is built
_NORMALIZER_HELP = f"text normaliser applied to both sides: {', '.join(NORMALIZERS)} (avhubert_ami.scoring.text)"


@dataclass
class CerScorerConfig(FairseqDataclass):
    """``--scoring cer`` options."""

    cer_keep_case_punct: bool = field(
        default=False, metadata={"help": "score raw characters (default: normalised by --cer-normalizer)"}
    )
    cer_normalizer: str = field(default=DEFAULT_NORMALIZER, metadata={"help": _NORMALIZER_HELP})


@dataclass
class AmiWerScorerConfig(FairseqDataclass):
    """``--scoring ami_wer`` options."""

    ami_wer_normalizer: str = field(default=DEFAULT_NORMALIZER, metadata={"help": _NORMALIZER_HELP})


class EditScorer(BaseScorer):
    """Corpus error rate in percent (edits / reference length), sentencepiece-aware; subclasses set the unit."""

    char_level = False
    label = "WER"
    prefix = "ami_wer"  # config fields are ``{prefix}_normalizer`` ...

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.normalizer = check_normalizer(getattr(cfg, self.prefix + "_normalizer", DEFAULT_NORMALIZER))
        self.reset()

    def reset(self) -> None:
        """Forget the strings added so far."""
        self.distance = 0
        self.ref_length = 0

    def add_string(self, ref: str, pred: str) -> None:
        """Add one reference/hypothesis pair."""
        ref, pred = sentencepiece_to_text(ref), sentencepiece_to_text(pred)
        e, n = error_counts(pred, ref, char_level=self.char_level, normalizer=self.normalizer)
        self.distance += e
        self.ref_length += n

    def score(self) -> float:
        """Error rate in percent (0 before any reference)."""
        return 100.0 * self.distance / self.ref_length if self.ref_length > 0 else 0.0

    def result_string(self) -> str:
        """The line fairseq-generate prints."""
        return f"{self.label} ({self.normalizer} normalizer): {self.score():.2f}"


@register_scorer("cer", dataclass=CerScorerConfig)
class CerScorer(EditScorer):
    """Character error rate (spaces excluded)."""

    char_level, label, prefix = True, "CER", "cer"

    def add_string(self, ref: str, pred: str) -> None:
        """Add one pair, normalised unless ``--cer-keep-case-punct``."""
        if not self.cfg.cer_keep_case_punct:
            return super().add_string(ref, pred)
        ref, pred = sentencepiece_to_text(ref), sentencepiece_to_text(pred)
        r, h = list(ref.replace(" ", "")), list(pred.replace(" ", ""))
        self.distance += editdistance.eval(h, r)
        self.ref_length += len(r)

    def result_string(self) -> str:
        """The line fairseq-generate prints."""
        if self.cfg.cer_keep_case_punct:
            return f"CER (raw characters): {self.score():.2f}"
        return super().result_string()


@register_scorer("ami_wer", dataclass=AmiWerScorerConfig)
class AmiWerScorer(EditScorer):
    """Word error rate with a choice of normaliser (``--ami-wer-normalizer kaldi`` for AMI recipes' numbers)."""

    char_level, label, prefix = False, "WER", "ami_wer"
