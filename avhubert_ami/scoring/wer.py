"""Word and character error rates (editdistance), shared by validation, scorers and decoding.

No fairseq here (the transcription and preprocessing paths import it without fairseq): the
``fairseq-generate --scoring cer|ami_wer`` scorers built on it live in :mod:`avhubert_ami.scoring.scorers`.

Both sides are normalised before scoring by :func:`avhubert_ami.scoring.text.normalize_text` with one of its named
normalisers (``basic``, ``kaldi``, ``whisper``: see :mod:`avhubert_ami.scoring.text`).
"""

from __future__ import annotations

from typing import Iterable, Tuple

import editdistance

from avhubert_ami.scoring.text import DEFAULT_NORMALIZER, normalize_text


def error_counts(hyp: str, ref: str, char_level: bool = False, normalizer: str = DEFAULT_NORMALIZER) -> Tuple[int, int]:
    """Edit distance and reference length, in words (default) or characters (spaces excluded)."""
    hyp, ref = normalize_text(hyp, normalizer), normalize_text(ref, normalizer)
    if char_level:
        h, r = list(hyp.replace(" ", "")), list(ref.replace(" ", ""))
    else:
        h, r = hyp.split(), ref.split()
    return editdistance.eval(h, r), len(r)


def error_rate(
    hyps: Iterable[str], refs: Iterable[str], char_level: bool = False, normalizer: str = DEFAULT_NORMALIZER
) -> float:
    """Corpus-level WER (or CER) in percent: total edits / total reference length."""
    hyps, refs = list(hyps), list(refs)
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    errors = length = 0
    for h, r in zip(hyps, refs):
        e, n = error_counts(h, r, char_level, normalizer)
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
