"""Word and character error rates (editdistance), shared by validation, scorers and decoding.

No fairseq here (the transcription and preprocessing paths import it without fairseq): the
``fairseq-generate --scoring cer|ami_wer`` scorers built on it live in :mod:`avhubert_ami.scorers`.

Three text normalisers (``NORMALIZERS``), applied to hypothesis and reference alike before scoring:

* ``basic`` (default, this plugin's historical one): lower case, punctuation removed (apostrophes kept,
  hyphens removed too), whitespace collapsed.
* ``kaldi``: the convention of the Kaldi / ESPnet / icefall AMI recipes: upper case, punctuation removed
  (apostrophes kept), hyphens as spaces (``MM-HMM`` -> ``MM HMM``), filled pauses kept and scored.
* ``whisper``: the Open ASR Leaderboard's: Whisper's ``EnglishTextNormalizer`` (the ``whisper-normalizer``
  package): filled pauses (um, uh, hmm, mm) dropped, numbers and British/American spellings standardised.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Callable, Iterable, Tuple

import editdistance

_PUNCT = re.compile(r"[^\w\s']", flags=re.UNICODE)
_KALDI_PUNCT = re.compile(r"[^\w\s'-]", flags=re.UNICODE)

NORMALIZERS = ("basic", "kaldi", "whisper")
DEFAULT_NORMALIZER = "basic"


def _basic(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCT.sub(" ", text).split())


def _kaldi(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).upper()
    text = _KALDI_PUNCT.sub(" ", text).replace("-", " ")
    # quotes used as quotes (not in-word apostrophes: "don't", "JAMES'") carry no word
    words = [w.strip("'") if w.startswith("'") else w for w in text.split()]
    return " ".join(w for w in words if w)


@functools.lru_cache(maxsize=1)
def _whisper_normalizer() -> Callable[[str], str]:
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError as err:  # a clear message instead of a bare ModuleNotFoundError deep in scoring
        raise ImportError(
            "the 'whisper' normalizer needs the whisper-normalizer package: "
            "pip install whisper-normalizer (or pip install -e '.[transcribe]')"
        ) from err
    return EnglishTextNormalizer()


def _whisper(text: str) -> str:
    return " ".join(_whisper_normalizer()(unicodedata.normalize("NFKC", text)).split())


_FUNCS = {"basic": _basic, "kaldi": _kaldi, "whisper": _whisper}


def check_normalizer(name: str) -> str:
    """``name`` if it is one of :data:`NORMALIZERS`, else ValueError listing them."""
    if name not in _FUNCS:
        raise ValueError(f"unknown normalizer {name!r}: choose one of {', '.join(NORMALIZERS)}")
    return name


def normalize_text(text: str, normalizer: str = DEFAULT_NORMALIZER) -> str:
    """Normalise ``text`` for scoring with one of :data:`NORMALIZERS` (see the module docstring)."""
    return _FUNCS[check_normalizer(normalizer)](text)


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
