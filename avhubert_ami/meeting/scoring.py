"""Meeting scores: cpWER and tcpWER through meeteval, DER through pyannote.metrics.

* :func:`cpwer`: each speaker's words concatenated in time order; hypothesis speakers matched to reference speakers
  by the assignment with the fewest errors (Hungarian); words of unmatched speakers all count.
* :func:`tcpwer`: cpWER where a hypothesis word only matches a reference word within ``collar`` seconds (CHiME-8:
  5 s), with meeteval's default pseudo word timings (reference: by characters within the segment; hypothesis:
  the points at the middle of those spans).
* :func:`der`: diarization error rate of speaker activity (RTTM-like segments: each speaker's segments merged
  into turns), with md-eval's collar convention: ``collar`` seconds on each side of every reference boundary
  are not scored (``md-eval-22.pl -c 0.25`` is ``collar=0.25``; pyannote's own ``collar`` is the total width).

The project's text normaliser (``avhubert_ami.scoring.text``: basic, kaldi, whisper) is applied to reference and
hypothesis words before scoring and recorded in the result. All times are seconds. A reference without words (or without
speech, for DER) gives ``error_rate``/``der`` None and a ``note``, never an exception.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from avhubert_ami.meeting.formats import MeetingSegment, check_same_meeting, session_ids, speaker_turns
from avhubert_ami.scoring.text import DEFAULT_NORMALIZER, check_normalizer, normalize_text

TCP_COLLAR = 5.0  # seconds: CHiME-8 DASR's tcpWER collar
DER_COLLAR = 0.25  # seconds on each side of a reference boundary (md-eval -c 0.25: CHiME, DIHARD)


def _rate(errors: float, total: float) -> Optional[float]:
    return errors / total if total > 0 else None


@dataclass
class SpeakerWordErrors:
    """The errors of one matched pair of speakers under the assignment. ``reference_speaker`` None: a hypothesis
    speaker matched to no reference speaker (its words are insertions); ``hypothesis_speaker`` None: a reference
    speaker no hypothesis speaker was matched to (its words are deletions)."""

    reference_speaker: Optional[str]
    hypothesis_speaker: Optional[str]
    reference_words: int
    hypothesis_words: int
    errors: int
    insertions: int
    deletions: int
    substitutions: int

    @property
    def error_rate(self) -> Optional[float]:
        """``errors / reference_words``; None without reference words."""
        return _rate(self.errors, self.reference_words)


@dataclass
class MeetingWerResult:
    """cpWER or tcpWER of one meeting. ``assignment`` maps each hypothesis speaker to its reference speaker
    (None: unmatched); ``per_speaker`` sums to the totals."""

    metric: str  # "cpWER" or "tcpWER"
    session_id: str
    normalizer: str
    collar: Optional[float]  # tcpWER's collar in seconds; None for cpWER
    error_rate: Optional[float]  # errors / reference_words; None when the reference has no words
    errors: int
    reference_words: int
    hypothesis_words: int
    insertions: int
    deletions: int
    substitutions: int
    assignment: Dict[str, Optional[str]]
    missed_speakers: int  # reference speakers matched to no hypothesis speaker
    falarm_speakers: int  # hypothesis speakers matched to no reference speaker
    per_speaker: List[SpeakerWordErrors] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready, per-speaker error rates included."""
        d = asdict(self)
        for row, s in zip(d["per_speaker"], self.per_speaker):
            row["error_rate"] = s.error_rate
        return d


def _session(reference: Sequence[MeetingSegment], hypothesis: Sequence[MeetingSegment]) -> str:
    """The one meeting both sides are of; ValueError otherwise."""
    hyp_ids = session_ids(hypothesis)
    if len(hyp_ids) > 1:
        raise ValueError(
            f"hypothesis: segments of several meetings ({', '.join(hyp_ids)}); score one meeting at a time"
        )
    if not hyp_ids:
        ref_ids = session_ids(reference)
        if len(ref_ids) > 1:
            raise ValueError(f"reference: segments of several meetings ({', '.join(ref_ids)}); score one at a time")
        return ref_ids[0] if ref_ids else ""
    check_same_meeting(reference, hyp_ids[0])
    return hyp_ids[0]


def _seglst(segments: Sequence[MeetingSegment], normalizer: str):
    from meeteval.io import SegLST

    return SegLST(
        [
            {
                "session_id": s.session_id,
                "speaker": s.speaker,
                "start_time": s.start_time,
                "end_time": s.end_time,
                "words": normalize_text(s.words, normalizer),
            }
            for s in segments
        ]
    )


def _words(seglst) -> int:
    return sum(len(s["words"].split()) for s in seglst)


def _wer(
    metric: str,
    reference: Sequence[MeetingSegment],
    hypothesis: Sequence[MeetingSegment],
    normalizer: str,
    collar: Optional[float],
) -> MeetingWerResult:
    from meeteval.wer.wer.cp import cp_word_error_rate
    from meeteval.wer.wer.time_constrained import time_constrained_minimum_permutation_word_error_rate

    check_normalizer(normalizer)
    session_id = _session(reference, hypothesis)
    ref, hyp = _seglst(reference, normalizer), _seglst(hypothesis, normalizer)

    def score(r, h):
        if collar is None:
            return cp_word_error_rate(r, h)
        return time_constrained_minimum_permutation_word_error_rate(r, h, collar=collar)

    total = score(ref, hyp)
    per_speaker = []
    for ref_spk, hyp_spk in total.assignment:
        # the pair scored alone with the same meeteval function: one speaker a side, so no choice of assignment
        r = ref.filter(lambda s, k=ref_spk: s["speaker"] == k)
        h = hyp.filter(lambda s, k=hyp_spk: s["speaker"] == k)
        er = score(r, h)
        per_speaker.append(
            SpeakerWordErrors(
                ref_spk, hyp_spk, er.length, _words(h), er.errors, er.insertions, er.deletions, er.substitutions
            )
        )
    per_speaker.sort(key=lambda s: (s.reference_speaker is None, s.reference_speaker or "", s.hypothesis_speaker or ""))
    notes = []
    if total.length == 0:
        notes.append("the reference has no words: the error rate is undefined (hypothesis words are insertions)")
    if sum(s.errors for s in per_speaker) != total.errors:  # meeteval scores pairs independently: never expected
        notes.append("per-speaker errors do not add up to the total")
    overlap = total.hypothesis_self_overlap
    if collar is not None and overlap is not None and overlap.overlap_time > 0:
        # tcpWER orders a speaker's words by time: a speaker overlapping itself has no single order
        notes.append(f"hypothesis speakers overlap themselves for {float(overlap.overlap_time):.2f} s")
    return MeetingWerResult(
        metric=metric,
        session_id=session_id,
        normalizer=normalizer,
        collar=collar,
        error_rate=_rate(total.errors, total.length),
        errors=total.errors,
        reference_words=total.length,
        hypothesis_words=_words(hyp),
        insertions=total.insertions,
        deletions=total.deletions,
        substitutions=total.substitutions,
        assignment={h: r for r, h in total.assignment if h is not None},
        missed_speakers=total.missed_speaker,
        falarm_speakers=total.falarm_speaker,
        per_speaker=per_speaker,
        note="; ".join(notes),
    )


def cpwer(
    reference: Sequence[MeetingSegment],
    hypothesis: Sequence[MeetingSegment],
    normalizer: str = DEFAULT_NORMALIZER,
) -> MeetingWerResult:
    """Concatenated minimum-permutation WER of one meeting (meeteval's ``cp_word_error_rate``) after
    ``normalizer`` (one of ``avhubert_ami.text.NORMALIZERS``) on both sides. ValueError when the reference is of
    another meeting or the hypothesis spans several."""
    return _wer("cpWER", reference, hypothesis, normalizer, None)


def tcpwer(
    reference: Sequence[MeetingSegment],
    hypothesis: Sequence[MeetingSegment],
    collar: float = TCP_COLLAR,
    normalizer: str = DEFAULT_NORMALIZER,
) -> MeetingWerResult:
    """Time-constrained cpWER (meeteval's ``tcp_word_error_rate``): as :func:`cpwer`, but a hypothesis word
    matches a reference word only when its time point lies within ``collar`` seconds of the reference word."""
    if collar < 0:
        raise ValueError(f"collar must be >= 0 seconds, got {collar}")
    return _wer("tcpWER", reference, hypothesis, normalizer, float(collar))


# ---- DER ---------------------------------------------------------------------------------------------------
@dataclass
class SpeakerTime:
    """One speaker's scored speech and how much of it the speaker matched under the mapping does not cover:
    for a reference speaker, missed time (speaker confusion included); for a hypothesis speaker, false alarm time
    (confusion included). Reference speakers' ``error_time`` sums to miss + confusion, hypothesis speakers' to
    false alarm + confusion."""

    speaker: str
    matched: Optional[str]
    speech_time: float
    error_time: float


@dataclass
class MeetingDerResult:
    """DER of one meeting and its parts, in seconds of speaker time within ``uem`` less the collars."""

    session_id: str
    collar: float  # seconds on each side of a reference boundary (md-eval convention)
    skip_overlap: bool
    uem: Tuple[float, float]  # the scored span (start, end)
    der: Optional[float]  # (missed + false alarm + confusion) / scored; None without scored reference speech
    scored_time: float  # reference speaker time scored
    missed_time: float
    false_alarm_time: float
    confusion_time: float
    mapping: Dict[str, Optional[str]]  # hypothesis speaker -> reference speaker (None: unmatched)
    reference_speakers: List[SpeakerTime] = field(default_factory=list)
    hypothesis_speakers: List[SpeakerTime] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _intervals(timeline) -> List[Tuple[float, float]]:
    return [(s.start, s.end) for s in timeline.support()]


def _overlap(a: List[Tuple[float, float]], b: List[Tuple[float, float]]) -> float:
    """Total length of the intersection of two sorted lists of disjoint intervals."""
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def der(
    reference: Sequence[MeetingSegment],
    hypothesis: Sequence[MeetingSegment],
    collar: float = DER_COLLAR,
    uem: Optional[Tuple[float, float]] = None,
    skip_overlap: bool = False,
) -> MeetingDerResult:
    """Diarization error rate of one meeting (pyannote.metrics' ``DiarizationErrorRate``, optimal one-to-one
    speaker mapping). ``uem`` (start, end) defaults to the span of reference and hypothesis together (dscore's
    convention: false alarms before the first or after the last reference turn count); ``skip_overlap`` leaves
    out regions where reference speakers overlap."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    if collar < 0:
        raise ValueError(f"collar must be >= 0 seconds, got {collar}")
    session_id = _session(reference, hypothesis)
    ref_turns, hyp_turns = speaker_turns(reference), speaker_turns(hypothesis)
    if uem is None:
        times = [t for s in ref_turns + hyp_turns for t in (s.start_time, s.end_time)]
        uem = (min(times), max(times)) if times else (0.0, 0.0)
    if not 0 <= uem[0] <= uem[1]:
        raise ValueError(f"uem must be (start, end) with 0 <= start <= end, got {uem}")

    def annotation(turns: Sequence[MeetingSegment]) -> Annotation:
        ann = Annotation(uri=session_id)
        for i, t in enumerate(turns):
            if t.end_time > t.start_time:
                ann[Segment(t.start_time, t.end_time), i] = t.speaker
        return ann

    ref_ann, hyp_ann = annotation(ref_turns), annotation(hyp_turns)
    uem_tl = Timeline([Segment(*uem)] if uem[1] > uem[0] else [], uri=session_id)
    # pyannote's collar is the collar's total width, centred on the boundary
    metric = DiarizationErrorRate(collar=2 * collar, skip_overlap=skip_overlap)
    parts = metric(ref_ann, hyp_ann, uem=uem_tl, detailed=True)
    ref_c, hyp_c = metric.uemify(ref_ann, hyp_ann, uem=uem_tl, collar=2 * collar, skip_overlap=skip_overlap)
    mapping = metric.optimal_mapping(ref_c, hyp_c) if ref_c.labels() and hyp_c.labels() else {}
    inverse = {r: h for h, r in mapping.items()}

    def speaker_times(ann: Annotation, other: Annotation, match: Dict[str, str]) -> List[SpeakerTime]:
        rows = []
        for label in sorted(ann.labels()):
            own = _intervals(ann.label_timeline(label))
            matched = match.get(label)
            covered = _overlap(own, _intervals(other.label_timeline(matched))) if matched is not None else 0.0
            speech = sum(e - s for s, e in own)
            rows.append(SpeakerTime(label, matched, speech, speech - covered))
        return rows

    scored = float(parts["total"])
    notes = []
    if scored == 0:
        notes.append("the reference has no scored speech: DER is undefined (hypothesis speech is false alarm)")
    return MeetingDerResult(
        session_id=session_id,
        collar=float(collar),
        skip_overlap=skip_overlap,
        uem=(float(uem[0]), float(uem[1])),
        der=_rate(
            float(parts["missed detection"] + parts["false alarm"] + parts["confusion"]),
            scored,
        ),
        scored_time=scored,
        missed_time=float(parts["missed detection"]),
        false_alarm_time=float(parts["false alarm"]),
        confusion_time=float(parts["confusion"]),
        mapping={h: mapping.get(h) for h in sorted(hyp_ann.labels())},
        reference_speakers=speaker_times(ref_c, hyp_c, inverse),
        hypothesis_speakers=speaker_times(hyp_c, ref_c, mapping),
        note="; ".join(notes),
    )


# ---- all of them -------------------------------------------------------------------------------------------
def score_meeting(
    reference: Sequence[MeetingSegment],
    hypothesis: Sequence[MeetingSegment],
    normalizer: str = DEFAULT_NORMALIZER,
    tcp_collar: float = TCP_COLLAR,
    der_collar: float = DER_COLLAR,
) -> Dict[str, Any]:
    """cpWER, tcpWER (``tcp_collar`` s) and DER (``der_collar`` s each side) of one meeting, JSON-ready, with the
    normaliser named: ``{"normalizer", "cpwer", "tcpwer", "der"}`` (the results' ``to_dict()``, per-speaker
    breakdowns included). ValueError when the reference is of another meeting."""
    return {
        "normalizer": normalizer,
        "cpwer": cpwer(reference, hypothesis, normalizer).to_dict(),
        "tcpwer": tcpwer(reference, hypothesis, tcp_collar, normalizer).to_dict(),
        "der": der(reference, hypothesis, der_collar).to_dict(),
    }
