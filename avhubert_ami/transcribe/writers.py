"""Transcript files: ``NAME.txt``, ``NAME.json``, ``NAME.srt`` and ``NAME.vtt``."""

from __future__ import annotations

import json
import os
from typing import Callable, Dict, List, Optional, Sequence

from avhubert_ami.transcribe.segments import Segment

FORMATS = ("txt", "json", "srt", "vtt")


def clock(seconds: float, sep: Optional[str] = None) -> str:
    """``HH:MM:SS`` for ``sep=None``; else ``HH:MM:SS<sep>mmm`` (SRT ``","``, WebVTT ``"."``). Rounded to the
    millisecond first, so the seconds shown never disagree with the milliseconds."""
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}" + ("" if sep is None else f"{sep}{ms:03d}")


def to_txt(segments: Sequence[Segment], meta: Dict) -> str:
    """One line per non-empty segment."""
    return "".join(s.text + "\n" for s in segments if s.text)


def to_json(segments: Sequence[Segment], meta: Dict) -> str:
    """``meta`` (input, model, decoding settings, notes, scores) plus the segments and the full text."""
    doc = dict(meta)
    doc["text"] = " ".join(s.text for s in segments if s.text)
    doc["segments"] = [s.to_dict() for s in segments]
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def _cues(segments: Sequence[Segment], sep: str, numbered: bool) -> List[str]:
    cues = []
    for i, s in enumerate((s for s in segments if s.text), 1):
        head = f"{i}\n" if numbered else ""
        cues.append(f"{head}{clock(s.start, sep)} --> {clock(s.end, sep)}\n{s.text}\n")
    return cues


def to_srt(segments: Sequence[Segment], meta: Dict) -> str:
    """SubRip subtitles (``HH:MM:SS,mmm``)."""
    return "\n".join(_cues(segments, ",", True))


def to_vtt(segments: Sequence[Segment], meta: Dict) -> str:
    """WebVTT subtitles (``HH:MM:SS.mmm``)."""
    return "WEBVTT\n\n" + "\n".join(_cues(segments, ".", False))


WRITERS: Dict[str, Callable[[Sequence[Segment], Dict], str]] = {
    "txt": to_txt,
    "json": to_json,
    "srt": to_srt,
    "vtt": to_vtt,
}


def parse_formats(value: str) -> List[str]:
    """``"txt,json"`` -> ``["txt", "json"]``; ValueError for an unknown format."""
    names = [f.strip().lower() for f in value.split(",") if f.strip()]
    bad = [f for f in names if f not in WRITERS]
    if bad or not names:
        raise ValueError(f"--format: unknown format(s) {bad or value!r}; choose among {', '.join(FORMATS)}")
    return names


def write_outputs(
    out_dir: str, name: str, segments: Sequence[Segment], meta: Dict, formats: Sequence[str]
) -> List[str]:
    """Write ``out_dir/name.<fmt>`` for each format atomically; returns the paths."""
    from avhubert_ami.files import atomic_write

    paths = []
    for fmt in formats:
        path = os.path.join(out_dir, f"{name}.{fmt}")
        with atomic_write(path) as f:
            f.write(WRITERS[fmt](segments, meta))
        paths.append(path)
    return paths
