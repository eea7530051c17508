"""Where a meeting's media come from: :class:`MeetingMedia` (participants with their close-up camera and headset,
plus the room and mix recordings), read from an AMI folder through ``meetings.xml`` (:func:`ami_meeting`) or given
participant by participant (:func:`explicit_meeting`), and the meeting's reference transcript from the AMI
annotations (:func:`ami_reference`, the raw-AMI recipe's reader).

AMI's layout (``DIR/amicorpus/<M>/{audio,video}/``, annotations ``ami_public_manual_1.6.2/`` beside it) and the
meaning of ``meetings.xml`` are the raw-AMI recipe's (:mod:`avhubert_ami.prep.ami`,
:mod:`avhubert_ami.prep.ami_annotations`): each ``<speaker>`` of the meeting is a participant, named by its
``global_name``, wearing ``<M>.Headset-<channel>.wav`` and filmed by ``<M>.Closeup<camera>.avi``; the room channel is
the first array microphone ``<M>.Array1-01.wav``, the mix ``<M>.Mix-Headset.wav``. A file that is absent is None
here, with a note (the transcriber falls back); media that ``meetings.xml`` maps to nobody is an error, since the
participant list would then be wrong.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from avhubert_ami.errors import UsageError

AUDIO_SOURCES = ("headset", "room", "mix")
NO_HEADSET = "-"  # the AUDIO of ``--participant NAME VIDEO AUDIO`` for a participant without a headset


@dataclass
class ParticipantMedia:
    """One participant: ``name`` (the transcript's speaker), close-up ``video`` (a face video, or a mouth clip
    when the meeting's ``lip_video``) and ``headset`` audio; None where there is none."""

    name: str
    video: Optional[str] = None
    headset: Optional[str] = None


@dataclass
class MeetingMedia:
    """A meeting to transcribe: its id (the transcript's ``session_id``), participants, the room microphone and the
    headset mix (None where absent), whether the videos are mouth clips already, and notes on what is missing."""

    meeting_id: str
    participants: List[ParticipantMedia]
    room: Optional[str] = None
    mix: Optional[str] = None
    lip_video: bool = False
    notes: List[str] = field(default_factory=list)

    def check(self) -> "MeetingMedia":
        """Refuse a meeting without participants or with repeated names (one line naming them); returns self."""
        if not self.meeting_id or any(c.isspace() for c in self.meeting_id):
            raise UsageError(f"--meeting_id {self.meeting_id!r}: a meeting id is one word (RTTM/STM fields)")
        if not self.participants:
            raise UsageError(f"meeting {self.meeting_id}: no participants")
        names = [p.name for p in self.participants]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UsageError(f"meeting {self.meeting_id}: participant name(s) {', '.join(repeated)} given twice")
        bad = [n for n in names if not n or any(c.isspace() for c in n)]
        if bad:
            raise UsageError(f"participant names must be one word without spaces (RTTM/STM fields), got {bad}")
        return self


def _existing(path: Optional[str], what: str, notes: List[str]) -> Optional[str]:
    if path is None or os.path.isfile(path):
        return path
    notes.append(f"{what}: {path} not found")
    return None


def explicit_meeting(
    meeting_id: str,
    participants: Sequence[Tuple[str, str, str]],
    room_audio: Optional[str] = None,
    lip_video: bool = False,
) -> MeetingMedia:
    """A meeting from ``--participant NAME VIDEO AUDIO`` triples (AUDIO ``-``: no headset; VIDEO ``-``: no camera)
    and ``--room_audio``. A file named here that does not exist is a user error (exit 2), not a fallback: the
    command line says which participant and flag."""
    people = []
    for name, video, audio in participants:
        for flag, path in (("VIDEO", video), ("AUDIO", audio)):
            if path != NO_HEADSET and not os.path.isfile(path):
                raise UsageError(f"--participant {name} {video} {audio}: {flag} {path}: no such file")
        people.append(
            ParticipantMedia(name, None if video == NO_HEADSET else video, None if audio == NO_HEADSET else audio)
        )
    if room_audio is not None and not os.path.isfile(room_audio):
        raise UsageError(f"--room_audio {room_audio}: no such file")
    return MeetingMedia(meeting_id, people, room=room_audio, lip_video=lip_video).check()


_HEADSET = re.compile(r"^(?P<m>.+)\.Headset-(?P<k>\d+)\.wav$")
_CLOSEUP = re.compile(r"^(?P<m>.+)\.Closeup(?P<k>\d+)\.[A-Za-z0-9]+$")


def _numbered(folder: str, pattern: "re.Pattern[str]", meeting: str) -> dict:
    """``{number: file name}`` of the meeting's ``Headset-N`` / ``CloseupK`` files in ``folder``."""
    if not os.path.isdir(folder):
        return {}
    out = {}
    for f in sorted(os.listdir(folder)):
        m = pattern.match(f)
        if m and m.group("m") == meeting:
            out.setdefault(int(m.group("k")), f)
    return out


def ami_meeting(
    ami_dir: str,
    meeting: str,
    *,
    annotations_dir: Optional[str] = None,
    camera_map: Optional[str] = None,
    lip_video: bool = False,
    meeting_id: Optional[str] = None,
) -> MeetingMedia:
    """The participants of ``meeting`` in an AMI folder, in agent order (A, B, ...), from ``meetings.xml``.

    User errors (one line): no such meeting folder or no ``meetings.xml`` entry, two participants on one camera or
    headset, or a participant count that disagrees with the folder (a ``Headset-N``/``CloseupK`` file that no
    ``<speaker>`` of the meeting is mapped to). Absent files of listed participants become None with a note."""
    from avhubert_ami.prep.ami import locate
    from avhubert_ami.prep.ami_annotations import MEETINGS_XML, Annotations, read_camera_map, read_speakers

    corpus, ann_path = locate(ami_dir, annotations_dir)
    mdir = os.path.join(corpus, meeting)
    if not os.path.isdir(mdir):
        here = sorted(d for d in os.listdir(corpus) if os.path.isdir(os.path.join(corpus, d)))
        raise UsageError(
            f"--meeting {meeting}: no folder {mdir} (meetings here: {', '.join(here[:12]) or 'none'}"
            + (" ..." if len(here) > 12 else "")
            + ")"
        )
    ann = Annotations(ann_path)
    mapped = read_speakers(ann, read_camera_map(camera_map) if camera_map else {})
    speakers = sorted((s for (m, _), s in mapped.items() if m == meeting), key=lambda s: s.agent)
    xml = f"{ann_path}: {MEETINGS_XML}"
    if not speakers:
        raise UsageError(f"--meeting {meeting}: {xml} lists no speakers of this meeting (is it an AMI meeting id?)")
    for what, numbers in (("headset channel", [s.channel for s in speakers]), ("camera", [s.camera for s in speakers])):
        shared = sorted({k for k in numbers if k is not None and numbers.count(k) > 1})
        if shared:
            raise UsageError(f"{xml}: meeting {meeting}: two participants share {what} {shared[0]} (fix the file)")
    heads = _numbered(os.path.join(mdir, "audio"), _HEADSET, meeting)
    cams = _numbered(os.path.join(mdir, "video"), _CLOSEUP, meeting)
    orphans = [f for k, f in heads.items() if k not in {s.channel for s in speakers}]
    orphans += [f for k, f in cams.items() if k not in {s.camera for s in speakers}]
    if orphans:
        listed = ", ".join(f"{s.name} (agent {s.agent}, Headset-{s.channel}, Closeup{s.camera})" for s in speakers)
        raise UsageError(
            f"{xml}: meeting {meeting} has {len(speakers)} participant(s), {listed}, but {mdir} also holds "
            f"{', '.join(orphans)}, which no participant is mapped to: the participant count disagrees with "
            "meetings.xml (fix its <speaker> entries, or give --camera_map FILE for cameras)"
        )
    notes: List[str] = []
    people = []
    for s in speakers:
        video = None
        if s.camera is None:
            notes.append(f"{s.name}: {MEETINGS_XML} gives no camera (--camera_map FILE names it)")
        else:
            video = os.path.join(mdir, "video", cams.get(s.camera, f"{meeting}.Closeup{s.camera}.avi"))
        headset = os.path.join(mdir, "audio", f"{meeting}.Headset-{s.channel}.wav")
        people.append(
            ParticipantMedia(
                s.name, _existing(video, f"{s.name}'s camera", notes), _existing(headset, f"{s.name}'s headset", notes)
            )
        )
    audio = os.path.join(mdir, "audio")
    room = _existing(os.path.join(audio, f"{meeting}.Array1-01.wav"), "room microphone (Array1-01)", notes)
    mix = _existing(os.path.join(audio, f"{meeting}.Mix-Headset.wav"), "headset mix (Mix-Headset)", notes)
    return MeetingMedia(meeting_id or meeting, people, room, mix, lip_video, notes).check()


def ami_reference(
    ami_dir: str, meeting: str, *, annotations_dir: Optional[str] = None, session_id: Optional[str] = None
) -> list:
    """The meeting's reference transcript from AMI's manual annotations, read by the raw-AMI recipe (lhotse's
    segmentation, words as annotated: the scoring normaliser cleans them): a list of
    :class:`~avhubert_ami.meeting.formats.MeetingSegment`, speakers by global name, ``session_id`` (default: the
    meeting)."""
    from avhubert_ami.meeting.formats import MeetingSegment
    from avhubert_ami.prep.ami import locate
    from avhubert_ami.prep.ami_annotations import Annotations, read_segments, read_speakers

    _, ann_path = locate(ami_dir, annotations_dir)
    ann = Annotations(ann_path)
    segments = read_segments(ann, read_speakers(ann, {}), {meeting})
    return [
        MeetingSegment(session_id or meeting, s.speaker.name, s.start, s.end, " ".join(s.text.split()))
        for s in segments
    ]
