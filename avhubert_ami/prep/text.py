"""Transcript normalisation of the preparation recipes (case, punctuation, AMI disfluency tokens)."""

from __future__ import annotations

import re
import unicodedata

# AMI filled pauses / backchannels and annotation tokens (kept by default; --drop_disfluencies removes them).
DISFLUENCY_WORDS = frozenset("uh um mm hmm mm-hmm uh-huh um-hum mm-mm huh er erm ah eh mhm hm uhm".split())
_BRACKETED = re.compile(r"^[\[<(].*[\]>)]$")
_PUNCT = re.compile(r"[^\w\s'-]", flags=re.UNICODE)
_LOOSE_DASH = re.compile(r"(?<!\w)-|-(?!\w)")


def is_disfluency(word: str) -> bool:
    """True for AMI filled pauses (``um``, ``mm-hmm``), truncated words (``th-``) and
    annotation tokens (``<vocalsound>``, ``[laughter]``)."""
    w = word.lower()
    return (
        w.strip('.,?!;:"') in DISFLUENCY_WORDS
        or bool(_BRACKETED.match(w))
        or (len(w) > 1 and w.endswith("-") and w[0].isalnum())
    )


def normalize_transcript(
    text: str, lowercase: bool = True, strip_punctuation: bool = True, keep_disfluencies: bool = True
) -> str:
    """Normalise a transcript: NFKC, optional lower-casing, optional punctuation removal
    (apostrophes and in-word hyphens kept), optional removal of AMI disfluency tokens;
    whitespace is always collapsed."""
    text = unicodedata.normalize("NFKC", text)
    words = text.split()
    if not keep_disfluencies:
        words = [w for w in words if not is_disfluency(w)]
    text = " ".join(words)
    if lowercase:
        text = text.lower()
    if strip_punctuation:
        text = _LOOSE_DASH.sub(" ", _PUNCT.sub(" ", text))
    return " ".join(text.split())
