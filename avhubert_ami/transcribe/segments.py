"""Transcript segments and their stitching in time order (overlapping windows de-duplicated)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Sequence


@dataclass
class Segment:
    """One decoded stretch of a recording."""

    start: float  # seconds
    end: float
    text: str
    modalities: List[str] = field(default_factory=list)  # what the model was fed for this segment
    avg_logprob: float = 0.0  # beam score: mean log-probability per output token
    note: str = ""  # e.g. why a modality was not used

    def to_dict(self) -> Dict[str, object]:
        d = asdict(self)
        d["start"], d["end"] = round(self.start, 3), round(self.end, 3)
        d["avg_logprob"] = round(self.avg_logprob, 4)
        if not self.note:
            d.pop("note")
        return d


def overlap_words(prev: Sequence[str], nxt: Sequence[str], max_words: int) -> int:
    """Largest ``k <= max_words`` with ``prev[-k:] == nxt[:k]``: the words two overlapping windows both heard."""
    for k in range(min(max_words, len(prev), len(nxt)), 0, -1):
        if list(prev[-k:]) == list(nxt[:k]):
            return k
    return 0


def stitch(segments: Sequence[Segment], max_overlap_words: int = 0) -> List[Segment]:
    """Segments in time order. With ``max_overlap_words`` (windows that overlap), the words a window repeats
    from the end of the previous one are dropped and the shared time is split at its middle."""
    out = sorted(segments, key=lambda s: (s.start, s.end))
    if max_overlap_words <= 0:
        return out
    for prev, cur in zip(out, out[1:]):
        if cur.start < prev.end:
            mid = (cur.start + prev.end) / 2
            prev.end, cur.start = mid, mid
            words = cur.text.split()
            k = overlap_words(prev.text.split(), words, max_overlap_words)
            cur.text = " ".join(words[k:])
    return out
