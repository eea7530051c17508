"""Transcript normalisation: one function, :func:`normalize_text`, for preparation (what goes into ``.wrd``) and
for scoring (what WER/CER compare). No fairseq here.

The options (:class:`TextNormalization`) are applied in this order: NFKC; AMI disfluency tokens dropped (optional);
Whisper's ``EnglishTextNormalizer`` (optional); case; punctuation; quotes; whitespace collapsed (always).

Preparation builds its options from the recipe flags (``--keep_case``, ``--keep_punctuation``,
``--drop_disfluencies``); the default keeps in-word hyphens and apostrophes (``mm-hmm``, ``it's``).
Scoring picks one of three named normalisers (``NORMALIZERS``), applied to hypothesis and reference alike:

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
from dataclasses import dataclass
from typing import Callable, Union

# AMI filled pauses / backchannels and annotation tokens (kept by default; --drop_disfluencies removes them).
DISFLUENCY_WORDS = frozenset("uh um mm hmm mm-hmm uh-huh um-hum mm-mm huh er erm ah eh mhm hm uhm".split())
_BRACKETED = re.compile(r"^[\[<(].*[\]>)]$")
_PUNCT_BUT_HYPHENS = re.compile(r"[^\w\s'-]", flags=re.UNICODE)
_PUNCT = re.compile(r"[^\w\s']", flags=re.UNICODE)
_LOOSE_DASH = re.compile(r"(?<!\w)-|-(?!\w)")
CASES = ("lower", "upper", "keep")


def is_disfluency(word: str) -> bool:
    """True for AMI filled pauses (``um``, ``mm-hmm``), truncated words (``th-``) and
    annotation tokens (``<vocalsound>``, ``[laughter]``)."""
    w = word.lower()
    return (
        w.strip('.,?!;:"') in DISFLUENCY_WORDS
        or bool(_BRACKETED.match(w))
        or (len(w) > 1 and w.endswith("-") and w[0].isalnum())
    )


@dataclass(frozen=True)
class TextNormalization:
    """Options of :func:`normalize_text`.

    ``case``: ``lower``, ``upper`` or ``keep``; ``strip_punctuation``: punctuation becomes spaces, apostrophes
    stay, hyphens stay inside words (``mm-hmm``) unless ``split_hyphens`` (``mm hmm``); ``strip_quotes``: a word
    that starts with a quote loses its quotes at both ends (``'end'`` -> ``end``; ``don't``, ``JAMES'`` keep
    theirs); ``keep_disfluencies``: False drops :func:`is_disfluency` words; ``whisper``: Whisper's
    ``EnglishTextNormalizer`` first (needs the ``whisper-normalizer`` package).
    """

    case: str = "lower"
    strip_punctuation: bool = True
    split_hyphens: bool = False
    strip_quotes: bool = False
    keep_disfluencies: bool = True
    whisper: bool = False

    def __post_init__(self) -> None:
        if self.case not in CASES:
            raise ValueError(f"case {self.case!r}: expected one of {', '.join(CASES)}")


SCORING_NORMALIZERS = {
    "basic": TextNormalization(split_hyphens=True),
    "kaldi": TextNormalization(case="upper", split_hyphens=True, strip_quotes=True),
    "whisper": TextNormalization(case="keep", strip_punctuation=False, whisper=True),
}
NORMALIZERS = tuple(SCORING_NORMALIZERS)
DEFAULT_NORMALIZER = "basic"


def check_normalizer(name: str) -> str:
    """``name`` if it is one of :data:`NORMALIZERS`, else ValueError listing them."""
    if name not in SCORING_NORMALIZERS:
        raise ValueError(f"unknown normalizer {name!r}: choose one of {', '.join(NORMALIZERS)}")
    return name


@functools.lru_cache(maxsize=1)
def _whisper_normalizer() -> Callable[[str], str]:
    # deferred: an optional dependency, needed only by the whisper normaliser
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError as err:  # a clear message instead of a bare ModuleNotFoundError deep in scoring
        raise ImportError(
            "the 'whisper' normalizer needs the whisper-normalizer package: "
            "pip install whisper-normalizer (or pip install -e '.[transcribe]')"
        ) from err
    return EnglishTextNormalizer()


def normalize_text(text: str, options: Union[str, TextNormalization] = DEFAULT_NORMALIZER) -> str:
    """Normalise ``text`` with ``options``: a :class:`TextNormalization`, or the name of one of the scoring
    normalisers :data:`NORMALIZERS` (see the module docstring)."""
    if isinstance(options, str):
        options = SCORING_NORMALIZERS[check_normalizer(options)]
    text = unicodedata.normalize("NFKC", text)
    if not options.keep_disfluencies:
        text = " ".join(w for w in text.split() if not is_disfluency(w))
    if options.whisper:
        text = _whisper_normalizer()(text)
    if options.case == "lower":
        text = text.lower()
    elif options.case == "upper":
        text = text.upper()
    if options.strip_punctuation:
        text = (
            _PUNCT.sub(" ", text) if options.split_hyphens else _LOOSE_DASH.sub(" ", _PUNCT_BUT_HYPHENS.sub(" ", text))
        )
    words = text.split()
    if options.strip_quotes:
        words = [w.strip("'") if w.startswith("'") else w for w in words]
    return " ".join(w for w in words if w)
