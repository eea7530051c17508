"""Phones, visemes and the meeting-word lexicon of the synthetic AMI-like corpus.

Every phone carries acoustic targets (formants, voicing/noise amplitudes, a frication band)
for :mod:`avhubert_ami.synth.audio` and a viseme (mouth shape) for :mod:`avhubert_ami.synth.video`.
The lexicon is chosen so that no two words share a viseme sequence: a lip reader can tell
them apart, not only a listener (:func:`viseme_collisions` checks it, a test enforces it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple


@dataclass(frozen=True)
class Phone:
    """Acoustic targets of one phone (reference adult male; speakers scale formants and f0).

    ``kind``: vowel | glide | nasal | fric | stop | affric | sil.  ``av``/``an`` are voiced and
    noise amplitudes; ``nc``/``nbw`` the centre and width (Hz) of the frication band; ``dur``
    the base duration in 25 fps video frames; ``viseme`` a key of :data:`VISEMES`.
    """

    kind: str
    formants: Tuple[float, float, float]
    av: float
    an: float
    nc: float
    nbw: float
    dur: float
    viseme: str


@dataclass(frozen=True)
class Viseme:
    """Mouth-shape targets: inner opening half-height (px), width and rounding factors,
    visibility of upper/lower teeth and tongue, lip pressing and lower-lip tuck (0..1)."""

    open: float
    width: float
    round: float = 0.0
    teeth_up: float = 0.0
    teeth_lo: float = 0.0
    tongue: float = 0.0
    press: float = 0.0
    tuck: float = 0.0


VISEME_FIELDS = ("open", "width", "round", "teeth_up", "teeth_lo", "tongue", "press", "tuck")

VISEMES: Dict[str, Viseme] = {
    "SIL": Viseme(0.0, 1.0, 0.1),
    "P": Viseme(0.0, 0.96, 0.15, press=1.0),  # p b m: lips pressed together
    "F": Viseme(1.2, 1.0, 0.0, teeth_up=1.0, tuck=1.0),  # f v: lower lip under upper teeth
    "TH": Viseme(3.0, 1.0, 0.0, teeth_up=0.8, teeth_lo=0.6, tongue=1.0),  # tongue between teeth
    "T": Viseme(3.0, 1.03, 0.0, teeth_up=0.5, teeth_lo=0.3, tongue=0.5),  # t d n
    "S": Viseme(1.3, 1.1, 0.0, teeth_up=1.0, teeth_lo=1.0),  # s z: clenched teeth, spread
    "L": Viseme(5.0, 1.0, 0.0, teeth_up=0.4, tongue=0.9),
    "K": Viseme(5.0, 1.0, 0.1, teeth_up=0.2),  # k g ng h: neutral, open
    "SH": Viseme(3.5, 0.8, 0.7, teeth_up=0.8, teeth_lo=0.8),  # sh ch jh: protruded with teeth
    "W": Viseme(1.8, 0.68, 1.0),
    "R": Viseme(3.0, 0.84, 0.6, teeth_up=0.3),
    "Y": Viseme(2.5, 1.12, 0.0, teeth_up=0.6, teeth_lo=0.4),
    "IY": Viseme(3.5, 1.14, 0.0, teeth_up=0.8, teeth_lo=0.5),
    "IH": Viseme(4.5, 1.08, 0.0, teeth_up=0.6, teeth_lo=0.2),
    "EH": Viseme(6.5, 1.08, 0.0, teeth_up=0.5),
    "AE": Viseme(8.5, 1.1, 0.0, teeth_up=0.6, tongue=0.3),
    "AA": Viseme(11.0, 1.0, 0.0, teeth_up=0.4, tongue=0.4),
    "AH": Viseme(7.0, 1.0, 0.1, teeth_up=0.3),
    "AO": Viseme(8.5, 0.86, 0.6),
    "OW": Viseme(6.0, 0.78, 0.85),
    "UH": Viseme(4.0, 0.85, 0.6),
    "UW": Viseme(2.5, 0.7, 1.0),
    "ER": Viseme(4.0, 0.86, 0.5, teeth_up=0.3),
}


def _v(f1, f2, f3, vis, dur=3.0, av=1.0):
    return Phone("vowel", (f1, f2, f3), av, 0.0, 0.0, 1.0, dur, vis)


def _c(kind, f, av, an, nc, nbw, dur, vis):
    return Phone(kind, f, av, an, nc, nbw, dur, vis)


PHONES: Dict[str, Phone] = {
    "sil": Phone("sil", (500.0, 1500.0, 2500.0), 0.0, 0.0, 0.0, 1.0, 1.0, "SIL"),
    # vowels (Peterson & Barney-like formants)
    "iy": _v(270, 2290, 3010, "IY"),
    "ih": _v(390, 1990, 2550, "IH", 2.5),
    "eh": _v(530, 1840, 2480, "EH"),
    "ae": _v(660, 1720, 2410, "AE", 3.5),
    "aa": _v(730, 1090, 2440, "AA", 3.5),
    "ah": _v(520, 1190, 2390, "AH", 2.5),
    "ao": _v(570, 840, 2410, "AO", 3.5),
    "ow": _v(480, 900, 2300, "OW", 3.5),
    "uh": _v(440, 1020, 2240, "UH", 2.5),
    "uw": _v(300, 870, 2240, "UW"),
    "er": _v(490, 1350, 1690, "ER"),
    # glides and liquids
    "w": _c("glide", (300, 700, 2200), 0.6, 0.0, 0, 1, 1.5, "W"),
    "y": _c("glide", (280, 2200, 2900), 0.6, 0.0, 0, 1, 1.5, "Y"),
    "l": _c("glide", (360, 1100, 2700), 0.6, 0.0, 0, 1, 1.5, "L"),
    "r": _c("glide", (350, 1100, 1600), 0.6, 0.0, 0, 1, 1.5, "R"),
    # nasals: murmur with place-dependent second resonance
    "m": _c("nasal", (250, 900, 2200), 0.35, 0.0, 0, 1, 2.0, "P"),
    "n": _c("nasal", (250, 1400, 2500), 0.35, 0.0, 0, 1, 2.0, "T"),
    "ng": _c("nasal", (250, 1900, 2600), 0.35, 0.0, 0, 1, 2.0, "K"),
    # fricatives
    "s": _c("fric", (400, 1700, 2600), 0.0, 0.45, 6000, 1400, 2.5, "S"),
    "z": _c("fric", (400, 1700, 2600), 0.25, 0.3, 6000, 1400, 2.0, "S"),
    "sh": _c("fric", (400, 1900, 2500), 0.0, 0.45, 3300, 800, 2.5, "SH"),
    "f": _c("fric", (400, 1100, 2400), 0.0, 0.12, 5000, 3000, 2.0, "F"),
    "v": _c("fric", (400, 1100, 2400), 0.3, 0.08, 5000, 3000, 1.5, "F"),
    "th": _c("fric", (400, 1400, 2600), 0.0, 0.1, 6500, 3000, 2.0, "TH"),
    "dh": _c("fric", (400, 1400, 2600), 0.3, 0.06, 6500, 3000, 1.5, "TH"),
    "h": _c("fric", (500, 1500, 2500), 0.0, 0.2, 0, 0, 1.5, "K"),  # nbw 0: noise through formants
    # stops: closure (voice bar if voiced) then a place-dependent burst
    "p": _c("stop", (300, 800, 2200), 0.0, 0.5, 900, 700, 2.0, "P"),
    "b": _c("stop", (300, 800, 2200), 0.15, 0.35, 900, 700, 2.0, "P"),
    "t": _c("stop", (350, 1700, 2600), 0.0, 0.5, 4500, 1500, 2.0, "T"),
    "d": _c("stop", (350, 1700, 2600), 0.15, 0.35, 4500, 1500, 2.0, "T"),
    "k": _c("stop", (350, 2000, 2500), 0.0, 0.5, 2000, 500, 2.0, "K"),
    "g": _c("stop", (350, 2000, 2500), 0.15, 0.35, 2000, 500, 2.0, "K"),
    "ch": _c("affric", (400, 1900, 2500), 0.0, 0.45, 3300, 800, 2.5, "SH"),
    "jh": _c("affric", (400, 1900, 2500), 0.2, 0.35, 3300, 800, 2.5, "SH"),
}

# Diphthongs are written as two vowels (the second shorter) in the lexicon.
LEXICON: Dict[str, Tuple[str, ...]] = {
    w: tuple(p.split())
    for w, p in {
        "okay": "ow k eh iy",
        "yeah": "y ae",
        "so": "s ow",
        "the": "dh ah",
        "meeting": "m iy t ih ng",
        "design": "d ih z aa iy n",
        "remote": "r ih m ow t",
        "button": "b ah t ah n",
        "project": "p r aa jh eh k t",
        "budget": "b ah jh ih t",
        "control": "k ah n t r ow l",
        "market": "m aa r k ih t",
        "price": "p r aa iy s",
        "euro": "y uh r ow",
        "user": "y uw z er",
        "think": "th ih ng k",
        "good": "g uh d",
        "right": "r aa iy t",
        "well": "w eh l",
        "know": "n ow",
        "we": "w iy",
        "should": "sh uh d",
        "need": "n iy d",
        "idea": "aa iy d iy ah",
        "case": "k eh iy s",
        "shape": "sh eh iy p",
        "colour": "k ah l er",
        "plastic": "p l ae s t ih k",
        "rubber": "r ah b er",
        "battery": "b ae t er iy",
        "screen": "s k r iy n",
        "voice": "v ao iy s",
        "speech": "s p iy ch",
        "fruit": "f r uw t",
        "yellow": "y eh l ow",
        "function": "f ah ng k sh ah n",
        "cost": "k aa s t",
        "team": "t iy m",
        "manager": "m ae n ih jh er",
        "finish": "f ih n ih sh",
        "chip": "ch ih p",
        "trendy": "t r eh n d iy",
        "fancy": "f ae n s iy",
        "simple": "s ih m p ah l",
        "agree": "ah g r iy",
        "maybe": "m eh iy b iy",
        "next": "n eh k s t",
        "look": "l uh k",
    }.items()
}

# Rough meeting-talk frequencies: discourse words are common, content words rarer (Zipf-like).
_FREQUENT = {
    "okay": 6.0,
    "yeah": 6.0,
    "so": 5.0,
    "the": 5.0,
    "we": 4.0,
    "think": 3.0,
    "right": 3.0,
    "well": 3.0,
    "know": 3.0,
    "should": 2.5,
    "need": 2.5,
    "good": 2.5,
}
WORDS: Tuple[str, ...] = tuple(LEXICON)
WORD_WEIGHTS: Tuple[float, ...] = tuple(_FREQUENT.get(w, 1.5) for w in WORDS)


def viseme_sequence(word: str) -> Tuple[str, ...]:
    """The word's viseme sequence with consecutive repeats merged (what a lip reader sees)."""
    out: List[str] = []
    for phone in LEXICON[word]:
        vis = PHONES[phone].viseme
        if not out or out[-1] != vis:
            out.append(vis)
    return tuple(out)


def viseme_collisions(words: Sequence[str] = WORDS) -> List[Tuple[str, str]]:
    """Pairs of words that share a viseme sequence (empty for a lip-readable lexicon)."""
    seen: Dict[Tuple[str, ...], str] = {}
    pairs = []
    for w in words:
        key = viseme_sequence(w)
        if key in seen:
            pairs.append((seen[key], w))
        else:
            seen[key] = w
    return pairs
