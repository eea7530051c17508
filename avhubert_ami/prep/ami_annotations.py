"""AMI's NXT manual annotations (``ami_public_manual_1.6.2``, folder or ``.zip``) -> speakers and segments.

Segments and their transcripts come from lhotse's AMI recipe (``lhotse.recipes.ami.parse_ami_annotations``),
so utterances are the ones lhotse/icefall AMI setups use: each transcriber segment of a speaker, split
at full stops, timed from its first word's start to its last word's end, with only ``<w>`` words
(vocal/non-vocal sounds, disfluency markers, gaps and pauses are not transcript words, as in Kaldi's and
lhotse's recipes). What lhotse lacks is read here from ``corpusResources/meetings.xml``: each speaker's
close-up camera (``<speaker nxt_agent=.. global_name=.. channel=N camera=CloseupK>``), plus the agent
letter that ``--camera_map`` overrides use. A zip is never extracted into the user's folders: lhotse
reads a temporary copy of its ``corpusResources/``, ``words/`` and ``segments/``.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import logging
import os
import re
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator, List, Optional, Set, Tuple

from avhubert_ami.errors import PreparationError

MEETINGS_XML = "corpusResources/meetings.xml"
_PARSED_DIRS = ("corpusResources/", "words/", "segments/")
_CAMERA = re.compile(r"^\s*(?:closeup|c)?\s*([1-4])\s*$", re.IGNORECASE)
LHOTSE_SPEC = "lhotse>=1.33,<2"


@dataclass(frozen=True)
class Speaker:
    """One participant of a meeting, as ``meetings.xml`` maps them."""

    meeting: str
    agent: str
    name: str
    channel: Optional[int]
    camera: Optional[int]


@dataclass(frozen=True)
class Segment:
    """One utterance of a speaker: times in seconds and its transcript as annotated (punctuation,
    truncated words marked ``word-``)."""

    speaker: Speaker
    start: float
    end: float
    text: str

    @property
    def uid(self) -> str:
        return (
            f"{self.speaker.meeting}_{self.speaker.name}_"
            f"{int(round(self.start * 100)):07d}_{int(round(self.end * 100)):07d}"
        )


class Annotations:
    """Read-only view of the NXT annotation tree, a folder or a ``.zip``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path) if path.endswith(".zip") else None
        if self._zip is not None:
            names = self._zip.namelist()
            anchor = next((n for n in names if n.endswith(MEETINGS_XML)), None)
            if anchor is None:
                raise PreparationError(f"{path}: no {MEETINGS_XML} inside (is it ami_public_manual_1.6.2.zip?)")
            self._prefix = anchor[: -len(MEETINGS_XML)]
            self._names = names
        elif not os.path.isfile(os.path.join(path, MEETINGS_XML)):
            raise PreparationError(
                f"{path}: no {MEETINGS_XML} (give --annotations_dir ami_public_manual_1.6.2 folder or .zip)"
            )

    def parse(self, rel: str) -> ET.Element:
        """Root element of the XML file ``rel`` (relative to the tree's root)."""
        try:
            if self._zip is None:
                return ET.parse(os.path.join(self.path, rel)).getroot()
            with self._zip.open(self._prefix + rel) as f:
                return ET.parse(f).getroot()
        except ET.ParseError as e:
            raise PreparationError(f"{self.path}: {rel}: malformed XML ({e})") from None

    @contextlib.contextmanager
    def as_folder(self) -> Iterator[Path]:
        """The tree as a folder: itself, or the zip's parsed parts in a temporary folder removed after."""
        if self._zip is None:
            yield Path(self.path)
            return
        with tempfile.TemporaryDirectory(prefix="ami_annotations_") as tmp:
            for name in self._names:
                rel = name[len(self._prefix) :]
                if name.startswith(self._prefix) and rel.startswith(_PARSED_DIRS) and not name.endswith("/"):
                    self._zip.extract(name, tmp)
            root = Path(tmp, self._prefix)
            for sub in _PARSED_DIRS:  # lhotse lists these folders: they must exist
                (root / sub).mkdir(parents=True, exist_ok=True)
            yield root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_camera(value: str) -> Optional[int]:
    """Close-up number of a camera value (``Closeup3``, ``C3`` or ``3``), or None if it is none of these."""
    m = _CAMERA.match(value)
    return int(m.group(1)) if m else None


def read_camera_map(path: str) -> Dict[Tuple[str, str], int]:
    """``meeting agent camera`` lines (camera ``CloseupK`` or ``K``; ``#`` comments) -> {(meeting, agent): K}."""
    out = {}
    if not os.path.isfile(path):
        raise PreparationError(f"--camera_map {path}: No such file or directory")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            cam = parse_camera(parts[2]) if len(parts) == 3 else None
            if cam is None:
                raise PreparationError(
                    f"{path}:{lineno}: expected 'meeting agent camera' (camera Closeup1..4 or 1..4), got {line!r}"
                )
            out[(parts[0], parts[1])] = cam
    return out


def read_speakers(ann: Annotations, camera_map: Dict[Tuple[str, str], int]) -> Dict[Tuple[str, str], Speaker]:
    """{(meeting, agent): Speaker} from ``corpusResources/meetings.xml`` (+ ``--camera_map`` overrides).

    Every ``<speaker>`` needs ``nxt_agent``, ``global_name`` and ``channel`` (lhotse keys speakers by
    them); ``camera`` may be missing (then ``--camera_map`` must name it when the meeting has video)."""
    out = {}
    where = f"{ann.path}: {MEETINGS_XML}"
    for meeting in ann.parse(MEETINGS_XML).iter():
        if _local(meeting.tag) != "meeting":
            continue
        mid = meeting.get("observation")
        for spk in meeting:
            if _local(spk.tag) != "speaker":
                continue
            missing = [a for a in ("nxt_agent", "global_name", "channel") if spk.get(a) is None]
            if missing:
                raise PreparationError(
                    f"{where}: meeting {mid}: a <speaker> lacks {', '.join(missing)} (has {dict(spk.attrib)})"
                )
            agent, channel = spk.get("nxt_agent"), spk.get("channel")
            if not channel.strip().isdigit():
                raise PreparationError(f"{where}: meeting {mid} agent {agent}: channel {channel!r} is not a number")
            cam = camera_map.get((mid, agent))
            if cam is None and spk.get("camera") is not None:
                cam = parse_camera(spk.get("camera"))
                if cam is None:
                    raise PreparationError(
                        f"{where}: meeting {mid} agent {agent}: camera {spk.get('camera')!r} is not "
                        "Closeup1..4 (fix it with --camera_map FILE)"
                    )
            out[(mid, agent)] = Speaker(mid, agent, spk.get("global_name"), int(channel), cam)
    return out


class _LhotseWarnings(logging.Filter):
    """Counts (and silences) the per-word warnings lhotse's AMI parser logs on the root logger."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter = collections.Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "zero or negative duration" in msg:
            self.counts["zero-duration words left out of transcripts (lhotse)"] += 1
        elif msg.startswith("No speaker"):
            self.counts["annotation files of speakers not in meetings.xml, skipped (lhotse)"] += 1
        else:
            return True
        return False


def lhotse_ami_recipe() -> ModuleType:
    """lhotse's AMI recipe module (``lhotse.recipes.ami``: the annotation parser and the partition table), imported
    on first use: its seconds of start-up stay out of ``--help`` and of the runs that never reach the corpus.
    Raises :class:`PreparationError` with the install line when lhotse is missing."""
    try:
        return importlib.import_module("lhotse.recipes.ami")
    except ImportError as e:
        raise PreparationError(
            f"the AMI recipe (avhubert-ami-corpus) reads AMI's partitions and annotations with lhotse's AMI recipe: "
            f"pip install -e '.[ami]' (or pip install '{LHOTSE_SPEC}') -- {e}"
        ) from None


def _first_malformed(folder: Path) -> str:
    for sub in _PARSED_DIRS:
        for f in sorted((folder / sub).glob("*.xml")):
            try:
                ET.parse(f)
            except ET.ParseError as e:
                return f"{sub}{f.name}: malformed XML ({e})"
    return "malformed XML"


def read_segments(
    ann: Annotations, speakers: Dict[Tuple[str, str], Speaker], meetings: Set[str], notes: Optional[List[str]] = None
) -> List[Segment]:
    """Utterances of ``meetings`` (lhotse's segmentation), sorted by meeting, start and agent.
    Counts of what lhotse left out are appended to ``notes``."""
    parse = lhotse_ami_recipe().parse_ami_annotations
    by_name = {(s.meeting, s.name): s for s in speakers.values()}
    counter = _LhotseWarnings()
    root = logging.getLogger()
    root.addFilter(counter)
    try:
        with ann.as_folder() as folder:
            try:
                parsed = parse(folder, normalize="none", keep_punctuation=True)
            except ET.ParseError:
                raise PreparationError(f"{ann.path}: {_first_malformed(folder)}") from None
            except ValueError as e:  # lhotse unpacks MEETING.AGENT.KIND from every file name it lists
                raise PreparationError(
                    f"{ann.path}: words/ and segments/ may hold only MEETING.AGENT.words.xml / "
                    f"MEETING.AGENT.segments.xml files ({e})"
                ) from None
            except KeyError as e:
                raise PreparationError(
                    f"{ann.path}: lhotse's AMI parser found no {e} (does every segments file "
                    "have its words file, every <meeting> an observation?)"
                ) from None
    finally:
        root.removeFilter(counter)
    segments = []
    for (mid, name, _channel), items in parsed.items():
        if mid not in meetings:
            continue
        spk = by_name[(mid, name)]
        segments.extend(Segment(spk, float(a.start_time), float(a.end_time), a.text) for a in items)
    if notes is not None:
        notes.extend(f"note: {n} {what}" for what, n in sorted(counter.counts.items()))
    return sorted(segments, key=lambda s: (s.speaker.meeting, s.start, s.speaker.agent))
