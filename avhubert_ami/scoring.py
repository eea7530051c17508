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
