"""Synthetic speakers (voice + face + speaking rate) and word -> phone timelines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from avhubert_ami.synth.audio import Voice
from avhubert_ami.synth.lexicon import LEXICON, PHONES, WORD_WEIGHTS, WORDS
from avhubert_ami.synth.video import Face


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker; ``rate`` > 1 speaks slower (longer phones)."""

    name: str
    voice: Voice
    face: Face
    rate: float


def sample_speaker(name: str, rng: np.random.Generator) -> Speaker:
    """Draw a speaker: female/male-like voice, vocal-tract length, and lip appearance."""
    female = bool(rng.random() < 0.5)
    voice = Voice(
        f0=float(rng.uniform(185, 240) if female else rng.uniform(95, 135)),
        formant_scale=float(rng.uniform(1.08, 1.18) if female else rng.uniform(0.92, 1.04)),
        breathiness=float(rng.uniform(0.0, 1.0)),
        tilt=float(rng.uniform(0.7, 1.3)),
        gain_db=float(rng.uniform(-24, -18)),
    )
    skin = float(rng.uniform(120, 200))
    face = Face(
        half_width=float(rng.uniform(27, 34)),
        lip_upper=float(rng.uniform(4.5, 7.0)),
        lip_lower=float(rng.uniform(6.0, 9.0)),
        open_scale=float(rng.uniform(1.15, 1.5)),
        skin=skin,
        lip=float(skin - rng.uniform(35, 70)),
        cavity=float(rng.uniform(15, 45)),
        teeth=float(rng.uniform(185, 235)),
        light_x=float(rng.uniform(-40, 40)),
        light_y=float(rng.uniform(-30, 30)),
        center=(float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3))),
    )
    return Speaker(name=name, voice=voice, face=face, rate=float(rng.uniform(0.85, 1.2)))


def sample_words(rng: np.random.Generator, min_words: int, max_words: int) -> List[str]:
    """A meeting-style word sequence (frequency-weighted, no immediate repeats)."""
    weights = np.asarray(WORD_WEIGHTS) / np.sum(WORD_WEIGHTS)
    n = int(rng.integers(min_words, max_words + 1))
    words: List[str] = []
    while len(words) < n:
        w = WORDS[int(rng.choice(len(WORDS), p=weights))]
        if not words or words[-1] != w:
            words.append(w)
    return words


def word_timeline(word: str, speaker: Speaker, rng: np.random.Generator) -> List[Tuple[str, int]]:
    """Phones of ``word`` with integer durations in video frames (>= 1), speaker-rate scaled."""
    out = []
    for p in LEXICON[word]:
        d = PHONES[p].dur * speaker.rate * rng.uniform(0.8, 1.25)
        out.append((p, max(1, int(round(d)))))
    return out


def utterance_timeline(
    words: Sequence[str], speaker: Speaker, rng: np.random.Generator, max_gap: int = 2
) -> Tuple[List[Tuple[str, int]], List[Tuple[int, int]]]:
    """Timeline of an utterance (leading/trailing silence, short pauses between words) and each
    word's ``(start_frame, end_frame)``."""
    tl: List[Tuple[str, int]] = [("sil", int(rng.integers(2, 6)))]
    spans = []
    pos = tl[0][1]
    for i, w in enumerate(words):
        if i:
            gap = int(rng.integers(0, max_gap + 1))
            if gap:
                tl.append(("sil", gap))
                pos += gap
        phones = word_timeline(w, speaker, rng)
        n = sum(d for _, d in phones)
        spans.append((pos, pos + n))
        tl.extend(phones)
        pos += n
    tl.append(("sil", int(rng.integers(2, 6))))
    return tl, spans
