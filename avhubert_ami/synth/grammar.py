"""A small stochastic grammar of meeting talk (AMI scenario: a team designing a remote control).

Utterances of the synthetic corpus are drawn from it (``--text_mode grammar``, the default) so that
word order carries information, as in real meetings: a decoder or a language model can learn that
"we should" precedes a verb, that "the" precedes an adjective or a noun, that "remote" is often
followed by "control". ``--text_mode words`` keeps the old unstructured mode (frequency-weighted
independent words, :func:`avhubert_ami.synth.speakers.sample_words`).

The grammar only uses words of :data:`avhubert_ami.synth.lexicon.LEXICON` (a test enforces it), so
every utterance stays lip-readable. It has no recursion: every derivation is finite, and
:func:`length_range` gives the shortest and longest utterance it can produce.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

import numpy as np

from avhubert_ami.synth.speakers import sample_words

#: Modes of :func:`sample_text`.
TEXT_MODES = ("grammar", "words")

Rule = Tuple[float, Tuple[str, ...]]

# Nonterminals are upper case, terminals are lexicon words. Weights are relative within a symbol.
GRAMMAR: Dict[str, Tuple[Rule, ...]] = {
    "UTT": (
        (4, ("OPEN", "CLAUSE")),
        (4, ("CLAUSE",)),
        (2, ("CLAUSE", "TAG")),
        (1, ("OPEN", "CLAUSE", "TAG")),
        (2, ("ANSWER",)),
    ),
    "OPEN": (
        (3, ("okay",)),
        (3, ("yeah",)),
        (3, ("so",)),
        (2, ("well",)),
        (1, ("look",)),
        (2, ("okay", "so")),
        (1, ("yeah", "well")),
        (1, ("right", "so")),
    ),
    "ANSWER": (
        (2, ("yeah", "right")),
        (2, ("okay", "good")),
        (2, ("good", "idea")),
        (1, ("well", "maybe")),
        (2, ("yeah", "we", "agree")),
        (1, ("okay", "next")),
        (1, ("right", "okay", "so")),
    ),
    "TAG": ((2, ("right",)), (2, ("okay",)), (1, ("good",)), (1, ("good", "idea")), (1, ("maybe",)), (1, ("yeah",))),
    "CLAUSE": (
        (3, ("SUBJ", "should", "VERB", "NP")),
        (3, ("we", "need", "NP")),
        (2, ("we", "think", "NP", "PRED")),
        (2, ("NP",)),
        (1, ("NP", "maybe")),
        (2, ("we", "agree")),
        (1, ("we", "know", "the", "AUDIENCE")),
        (2, ("next", "NP")),
        (2, ("maybe", "ADJ", "NOUN")),
        (1, ("the", "PRICED", "cost", "PRED")),
    ),
    "SUBJ": ((4, ("we",)), (1, ("the", "team")), (1, ("the", "manager")), (1, ("the", "user"))),
    "VERB": ((3, ("design",)), (2, ("finish",)), (1, ("control",)), (1, ("know",)), (1, ("look",))),
    "NP": ((3, ("the", "NOM")), (2, ("NOM",))),
    "NOM": ((3, ("NOUN",)), (3, ("ADJ", "NOUN")), (2, ("COMPOUND",)), (1, ("ADJ", "COMPOUND"))),
    "COMPOUND": tuple(
        (1, tuple(c.split()))
        for c in (
            "remote control",
            "voice control",
            "speech function",
            "rubber button",
            "plastic case",
            "battery cost",
            "market price",
            "project budget",
            "user idea",
            "team meeting",
            "fruit shape",
            "screen colour",
            "remote design",
            "euro price",
            "chip cost",
        )
    ),
    "NOUN": tuple(
        (1, (n,))
        for n in (
            "remote",
            "button",
            "case",
            "shape",
            "colour",
            "screen",
            "battery",
            "chip",
            "function",
            "price",
            "cost",
            "budget",
            "market",
            "user",
            "project",
            "team",
            "manager",
            "meeting",
            "idea",
            "design",
        )
    ),
    "ADJ": tuple((1, (a,)) for a in ("yellow", "trendy", "fancy", "simple", "good", "plastic", "rubber")),
    "PRED": ((2, ("good",)), (2, ("simple",)), (1, ("fancy",)), (1, ("trendy",)), (1, ("right",))),
    "AUDIENCE": ((2, ("user",)), (2, ("market",)), (1, ("team",)), (1, ("budget",))),
    "PRICED": ((1, ("battery",)), (1, ("chip",)), (1, ("case",)), (1, ("screen",)), (1, ("project",))),
}
START = "UTT"


def _is_nonterminal(symbol: str) -> bool:
    return symbol.isupper()


def expand(rng: np.random.Generator, symbol: str = START) -> List[str]:
    """One derivation of ``symbol`` (left to right, one weighted choice per nonterminal)."""
    if not _is_nonterminal(symbol):
        return [symbol]
    rules = GRAMMAR[symbol]
    weights = np.array([w for w, _ in rules], dtype=float)
    _, rhs = rules[int(rng.choice(len(rules), p=weights / weights.sum()))]
    return [word for sym in rhs for word in expand(rng, sym)]


@lru_cache(maxsize=None)
def length_range(symbol: str = START) -> Tuple[int, int]:
    """(shortest, longest) number of words ``symbol`` derives."""
    if not _is_nonterminal(symbol):
        return 1, 1
    spans = [[length_range(s) for s in rhs] for _, rhs in GRAMMAR[symbol]]
    return min(sum(lo for lo, _ in r) for r in spans), max(sum(hi for _, hi in r) for r in spans)


def terminals() -> Sequence[str]:
    """Every word the grammar can produce."""
    return sorted({s for rules in GRAMMAR.values() for _, rhs in rules for s in rhs if not _is_nonterminal(s)})


def check_length_bounds(min_words: int, max_words: int) -> None:
    """Raise ValueError when the grammar cannot produce utterances of ``min_words..max_words`` words."""
    lo, hi = length_range()
    if max_words < lo or min_words > hi:
        raise ValueError(
            f"the meeting grammar produces {lo}-{hi} words per utterance, which misses "
            f"--min_words {min_words} --max_words {max_words}; widen the range or use --text_mode words"
        )


def sample_sentence(rng: np.random.Generator, min_words: int, max_words: int, max_tries: int = 1000) -> List[str]:
    """A grammar utterance of ``min_words..max_words`` words (derivations outside the range are redrawn)."""
    check_length_bounds(min_words, max_words)
    for _ in range(max_tries):
        words = expand(rng)
        if min_words <= len(words) <= max_words:
            return words
    raise ValueError(f"no grammar utterance of {min_words}-{max_words} words in {max_tries} draws; widen the range")


def sample_text(rng: np.random.Generator, mode: str, min_words: int, max_words: int) -> List[str]:
    """The words of one utterance: ``grammar`` (meeting phrases) or ``words`` (independent words)."""
    if mode == "grammar":
        return sample_sentence(rng, min_words, max_words)
    if mode == "words":
        return sample_words(rng, min_words, max_words)
    raise ValueError(f"text mode must be one of {', '.join(TEXT_MODES)}, got {mode!r}")
