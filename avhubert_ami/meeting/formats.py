"""Meeting transcripts ("who said what, when"): :class:`MeetingSegment` and its files.

Writers (``to_*`` return the text; :func:`write_meeting` writes ``OUT/ID.<ext>`` atomically):

* ``seglst`` -> ``ID.seglst.json``: SegLST, a JSON list of ``{session_id, speaker, start_time, end_time, words}``
  (the CHiME-7/8 and meeteval field names; what ``meeteval-wer cpwer|tcpwer`` reads).
* ``rttm`` -> ``ID.rttm``: ``SPEAKER ID 1 start dur <NA> <NA> name <NA> <NA>``, each speaker's segments merged into
  turns (who spoke when: DER scorers count overlapping turns of one speaker twice).
* ``stm`` -> ``ID.stm``: ``ID 1 speaker start end words``, sorted by session then start time as sclite expects.
* ``srt`` / ``vtt``: subtitles, ``A: words`` (SRT) or WebVTT voice tags ``<v A>words``.
* ``txt``: for people, ``[HH:MM:SS] A: words``, one line per segment in time order.
* ``json``: the SegLST fields plus each segment's ``extras`` and a ``meta`` header (the transcriber's settings).

Readers: :func:`read_seglst`, :func:`read_rttm`, :func:`read_stm` and :func:`read_segments` (by extension); a
malformed file raises ValueError naming ``FILE:LINE`` (``FILE: segment N`` for JSON). :func:`check_same_meeting`
refuses references of another meeting. All times are seconds; files carry them to the millisecond.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from avhubert_ami.transcribe.writers import clock

SEGLST_FIELDS = ("session_id", "speaker", "start_time", "end_time", "words")
EXTENSIONS = {
    "seglst": ".seglst.json",
    "rttm": ".rttm",
    "stm": ".stm",
    "srt": ".srt",
    "vtt": ".vtt",
    "txt": ".txt",
    "json": ".json",
}
FORMATS = tuple(EXTENSIONS)
# STM's optional label field (``<O,F0,M>``: condition, focus, sex) between the end time and the words
_STM_LABEL = re.compile(r"^<[^<>]*,[^<>]*>$")
# NIST RTTM line types; only SPEAKER lines carry who spoke when
RTTM_TYPES = frozenset(
    "SEGMENT NOSCORE NO_RT_METADATA LEXEME NON-LEX NON-SPEECH FILLER EDIT FRAG IP SU CB A/P SPEAKER SPKR-INFO".split()
)


@dataclass
class MeetingSegment:
    """What one participant (``speaker``) said (``words``) from ``start_time`` to ``end_time`` (seconds) in the
    meeting ``session_id``. ``extras`` (e.g. confidence, modalities) go to the ``json`` format only."""

    session_id: str
    speaker: str
    start_time: float
    end_time: float
    words: str = ""
    extras: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("session_id", "speaker"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if not isinstance(self.words, str):
            raise ValueError(f"words must be a string, got {type(self.words).__name__}")
        self.start_time, self.end_time = float(self.start_time), float(self.end_time)
        if not (math.isfinite(self.start_time) and math.isfinite(self.end_time)):
            raise ValueError(f"times must be finite, got {self.start_time}..{self.end_time}")
        if self.start_time < 0 or self.end_time < self.start_time:
            raise ValueError(f"need 0 <= start_time <= end_time, got {self.start_time}..{self.end_time}")

    def to_seglst(self) -> Dict[str, Any]:
        """The five SegLST fields, times rounded to the millisecond."""
        return {
            "session_id": self.session_id,
            "speaker": self.speaker,
            "start_time": round(self.start_time, 3),
            "end_time": round(self.end_time, 3),
            "words": self.words,
        }


def time_order(segments: Iterable[MeetingSegment]) -> List[MeetingSegment]:
    """Segments sorted by session, start, end and speaker (the order every writer uses)."""
    return sorted(segments, key=lambda s: (s.session_id, s.start_time, s.end_time, s.speaker))


def _one_line(words: str) -> str:
    # line formats: a newline inside the words would start a new record
    return " ".join(words.split())


def _token(value: str, what: str) -> str:
    # RTTM and STM are whitespace-separated: a name with a space would shift every later field
    if any(c.isspace() for c in value):
        raise ValueError(f"{what} {value!r} contains whitespace, which RTTM/STM cannot hold")
    return value


def speaker_turns(segments: Iterable[MeetingSegment], merge_gap: float = 0.0) -> List[MeetingSegment]:
    """Each speaker's activity: the speaker's segments merged where they overlap, touch or are at most
    ``merge_gap`` seconds apart (on the millisecond grid), words dropped; in time order."""
    by_speaker: Dict[tuple, List[List[int]]] = {}
    gap = int(round(merge_gap * 1000))
    for seg in sorted(segments, key=lambda s: s.start_time):
        start, end = int(round(seg.start_time * 1000)), int(round(seg.end_time * 1000))
        turns = by_speaker.setdefault((seg.session_id, seg.speaker), [])
        if turns and start <= turns[-1][1] + gap:
            turns[-1][1] = max(turns[-1][1], end)
        else:
            turns.append([start, end])
    return time_order(
        MeetingSegment(sid, spk, start / 1000, end / 1000)
        for (sid, spk), turns in by_speaker.items()
        for start, end in turns
    )


# ---- writers -----------------------------------------------------------------------------------------------
def to_seglst(segments: Sequence[MeetingSegment]) -> str:
    """SegLST JSON (a list of the five fields per segment), in time order."""
    return json.dumps([s.to_seglst() for s in time_order(segments)], indent=1, ensure_ascii=False) + "\n"


def to_rttm(segments: Sequence[MeetingSegment], merge_gap: float = 0.0) -> str:
    """RTTM ``SPEAKER`` lines of :func:`speaker_turns` (zero-length turns left out), 3-decimal times."""
    lines = []
    for t in speaker_turns(segments, merge_gap):
        # start and duration from millisecond integers: start + dur is exactly the turn's end
        start, end = int(round(t.start_time * 1000)), int(round(t.end_time * 1000))
        if end > start:
            sid, spk = _token(t.session_id, "session id"), _token(t.speaker, "speaker")
            lines.append(f"SPEAKER {sid} 1 {start / 1000:.3f} {(end - start) / 1000:.3f} <NA> <NA> {spk} <NA> <NA>\n")
    return "".join(lines)


def to_stm(segments: Sequence[MeetingSegment]) -> str:
    """STM ``ID 1 speaker start end words``, sorted by session, start time (sclite's order), end, speaker."""
    lines = []
    for s in time_order(segments):
        sid, spk = _token(s.session_id, "session id"), _token(s.speaker, "speaker")
        words = _one_line(s.words)
        lines.append(f"{sid} 1 {spk} {s.start_time:.3f} {s.end_time:.3f}" + (f" {words}" if words else "") + "\n")
    return "".join(lines)


def _spoken(segments: Sequence[MeetingSegment]) -> List[MeetingSegment]:
    return [s for s in time_order(segments) if s.words.strip()]


def to_srt(segments: Sequence[MeetingSegment]) -> str:
    """SubRip cues ``A: words``, numbered in time order (overlapping speech gives overlapping cues)."""
    cues = [
        f"{i}\n{clock(s.start_time, ',')} --> {clock(s.end_time, ',')}\n{s.speaker}: {_one_line(s.words)}\n"
        for i, s in enumerate(_spoken(segments), 1)
    ]
    return "\n".join(cues)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: Sequence[MeetingSegment]) -> str:
    """WebVTT cues with voice tags, ``<v A>words``, in time order."""
    cues = [
        f"{clock(s.start_time, '.')} --> {clock(s.end_time, '.')}\n"
        f"<v {_vtt_escape(s.speaker)}>{_vtt_escape(_one_line(s.words))}\n"
        for s in _spoken(segments)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_txt(segments: Sequence[MeetingSegment]) -> str:
    """For people: ``[HH:MM:SS] A: words``, one line per segment with words, in time order."""
    return "".join(f"[{clock(s.start_time)}] {s.speaker}: {_one_line(s.words)}\n" for s in _spoken(segments))


def to_json(segments: Sequence[MeetingSegment], meta: Optional[Mapping[str, Any]] = None) -> str:
    """``meta`` (e.g. model, decoding settings, scores) plus ``segments``: the SegLST fields and each
    segment's ``extras``, in time order."""
    doc = dict(meta or {})
    doc["segments"] = [{**s.to_seglst(), **s.extras} for s in time_order(segments)]
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


WRITERS: Dict[str, Callable[[Sequence[MeetingSegment]], str]] = {
    "seglst": to_seglst,
    "rttm": to_rttm,
    "stm": to_stm,
    "srt": to_srt,
    "vtt": to_vtt,
    "txt": to_txt,
}


def parse_formats(value: str) -> List[str]:
    """``"seglst,rttm"`` -> ``["seglst", "rttm"]``; ValueError naming an unknown format."""
    names = [f.strip().lower() for f in value.split(",") if f.strip()]
    bad = [f for f in names if f not in EXTENSIONS]
    if bad or not names:
        raise ValueError(f"--format: unknown format(s) {bad or value!r}; choose among {', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


def write_meeting(
    out_dir: str,
    meeting_id: str,
    segments: Sequence[MeetingSegment],
    formats: Sequence[str] = FORMATS,
    meta: Optional[Mapping[str, Any]] = None,
) -> List[str]:
    """Write ``out_dir/meeting_id<ext>`` for each format, each atomically; returns the paths. Every text is
    built before the first file is written, so a segment no format can hold leaves no partial set behind."""
    from avhubert_ami.files import atomic_write

    texts = {fmt: to_json(segments, meta) if fmt == "json" else WRITERS[fmt](segments) for fmt in formats}
    paths = []
    for fmt, text in texts.items():
        path = os.path.join(out_dir, meeting_id + EXTENSIONS[fmt])
        with atomic_write(path) as f:
            f.write(text)
        paths.append(path)
    return paths


# ---- readers -----------------------------------------------------------------------------------------------
def _number(value: Any, what: str, where: str) -> float:
    try:
        x = float(value)  # CHiME-7 SegLST files write times as strings ("11.370")
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {what} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{where}: {what} must be finite, got {value!r}")
    return x


def _segment(where: str, **fields: Any) -> MeetingSegment:
    try:
        return MeetingSegment(**fields)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _lines(path: str) -> Iterable[tuple]:
    """``(line number, line)`` of the lines that are neither blank nor ``;;`` comments (NIST files)."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith(";"):
                yield n, line


def read_seglst(path: str) -> List[MeetingSegment]:
    """A SegLST file (or a ``json`` output of :func:`to_json`: its ``segments``); fields other than the five
    SegLST ones go to ``extras``."""
    with open(path, encoding="utf-8") as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if isinstance(doc, dict) and isinstance(doc.get("segments"), list):
        doc = doc["segments"]
    if not isinstance(doc, list):
        raise ValueError(f"{path}: SegLST must be a JSON list of segments, got {type(doc).__name__}")
    segments = []
    for i, entry in enumerate(doc, 1):
        where = f"{path}: segment {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object with {', '.join(SEGLST_FIELDS)}, got {entry!r}")
        missing = [k for k in SEGLST_FIELDS if k not in entry]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)} (SegLST needs {', '.join(SEGLST_FIELDS)})")
        if not isinstance(entry["words"], str):
            raise ValueError(f"{where}: words must be a string, got {entry['words']!r}")
        segments.append(
            _segment(
                where,
                session_id=str(entry["session_id"]),
                speaker=str(entry["speaker"]),
                start_time=_number(entry["start_time"], "start_time", where),
                end_time=_number(entry["end_time"], "end_time", where),
                words=entry["words"],
                extras={k: v for k, v in entry.items() if k not in SEGLST_FIELDS},
            )
        )
    return segments


def read_rttm(path: str) -> List[MeetingSegment]:
    """The ``SPEAKER`` lines of an RTTM file (9 or 10 fields; other line types such as ``SPKR-INFO`` are
    skipped) as segments without words."""
    segments = []
    for n, line in _lines(path):
        fields = line.split()
        where = f"{path}:{n}"
        if fields[0] not in RTTM_TYPES:
            raise ValueError(f"{where}: not an RTTM line (type {fields[0]!r}; expected SPEAKER ID 1 start dur ...)")
        if fields[0] != "SPEAKER":
            continue
        if len(fields) not in (9, 10):
            raise ValueError(
                f"{where}: an RTTM SPEAKER line has 9 or 10 fields (SPEAKER ID 1 start dur <NA> <NA> name <NA> <NA>),"
                f" got {len(fields)}: {line.strip()!r}"
            )
        start = _number(fields[3], "start time", where)
        duration = _number(fields[4], "duration", where)
        if duration < 0:
            raise ValueError(f"{where}: negative duration {fields[4]}")
        segments.append(
            _segment(where, session_id=fields[1], speaker=fields[7], start_time=start, end_time=start + duration)
        )
    return segments


def read_stm(path: str) -> List[MeetingSegment]:
    """An STM file: ``ID channel speaker start end [<label>] words`` (the channel is not kept)."""
    segments = []
    for n, line in _lines(path):
        fields = line.split(maxsplit=5)
        where = f"{path}:{n}"
        if len(fields) < 5:
            raise ValueError(
                f"{where}: an STM line has at least 5 fields (ID channel speaker start end words),"
                f" got {len(fields)}: {line.strip()!r}"
            )
        words = fields[5] if len(fields) == 6 else ""
        head, _, rest = words.partition(" ")
        if _STM_LABEL.match(head):
            words = rest
        segments.append(
            _segment(
                where,
                session_id=fields[0],
                speaker=fields[2],
                start_time=_number(fields[3], "start time", where),
                end_time=_number(fields[4], "end time", where),
                words=" ".join(words.split()),
            )
        )
    return segments


_SUFFIXES = ((".rttm", "rttm"), (".stm", "stm"), (".json", "seglst"))
READERS: Dict[str, Callable[[str], List[MeetingSegment]]] = {
    "seglst": read_seglst,
    "rttm": read_rttm,
    "stm": read_stm,
}


def read_segments(path: str) -> List[MeetingSegment]:
    """A SegLST (``.json``), RTTM (``.rttm``) or STM (``.stm``) file, by its extension."""
    fmt = next((f for suffix, f in _SUFFIXES if path.lower().endswith(suffix)), None)
    if fmt is None:
        raise ValueError(f"{path}: unknown transcript format; expected a .seglst.json/.json, .rttm or .stm file")
    return READERS[fmt](path)


def session_ids(segments: Iterable[MeetingSegment]) -> List[str]:
    """The distinct session ids of ``segments``, sorted."""
    return sorted({s.session_id for s in segments})


def check_same_meeting(reference: Sequence[MeetingSegment], session_id: str, source: str = "reference") -> None:
    """ValueError (one line) when ``reference`` (read from ``source``) holds segments of a meeting other than
    ``session_id``."""
    others = [sid for sid in session_ids(reference) if sid != session_id]
    if others:
        raise ValueError(
            f"{source}: references of meeting {', '.join(others)}, not of {session_id}; pass {session_id}'s references"
        )
