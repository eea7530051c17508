"""``avhubert-transcribe-meeting``: who said what, when -- a meeting's close-up cameras and microphones through a
fine-tuned checkpoint, each participant recognised from their own lips and audio.

    avhubert-transcribe-meeting --path CKPT --output_dir OUT [--meeting_id ID]
        (--ami_dir DIR --meeting ES2004a [--audio_source headset|room|mix]
         | --participant NAME VIDEO AUDIO [--participant NAME VIDEO AUDIO ...] [--room_audio WAV])
        [--lip_video] [--activity av|audio|video] [--modalities auto|audio|video|audio,video]
        [--format seglst,rttm,stm,srt,vtt,txt,json] [--references REF|ami] [--segments REF|ami]
        [--normalizer basic|kaldi|whisper] [--beam 5] [--ctc_weight W] [--lm_path LM --lm_weight W]

Inputs. An AMI folder (``DIR/amicorpus/<M>/``, annotations ``ami_public_manual_1.6.2/`` beside it or
``--annotations_dir``): ``meetings.xml`` names each participant (global name) and maps them to their headset and
close-up camera; ``room`` is the first array microphone (Array1-01), ``mix`` the Mix-Headset recording. Or each
participant given as NAME VIDEO AUDIO (AUDIO ``-``: no headset; VIDEO ``-``: no camera) with an optional room
microphone; with ``--room_audio`` everyone is recognised from the room channel and their own lips (``--audio_source
headset`` keeps the headsets and gives the room to those without one). Videos are face videos whose mouth is
cropped on the fly, or mouth clips with ``--lip_video``.

Who speaks when (``--activity``): ``av`` fuses lips and audio per participant, ``audio`` uses the microphones only
(for comparison), ``video`` the lips only. What is said: each participant's active segments decoded with their
own lips and the condition's audio (``--modalities audio`` decodes the same segments without lips).
``--segments REF`` decodes the turns of a reference (SegLST/RTTM/STM, or ``ami``) instead of the detected activity:
the oracle segmentation.

Outputs: ``OUT/ID.seglst.json`` (SegLST), ``ID.rttm``, ``ID.stm``, ``ID.srt``, ``ID.vtt``, ``ID.txt`` and
``ID.json`` (per segment: modalities, audio and video source, activity score; the settings, model, notes, stage
timings and real-time factors). ``--references`` (SegLST/STM/RTTM, or ``ami`` for the AMI annotations of the
meeting) adds cpWER and tcpWER (collar 5 s, meeteval), DER (collar 0.25 s, pyannote.metrics) and a per-speaker
breakdown to ``ID.json`` and the summary. The real-time factor is processing seconds per second of meeting, per
stage (model loading excluded).

Exit status: 0 when the meeting was transcribed, 2 for bad usage (flags, inputs, references of another meeting),
1 when the work failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import List, Optional, Sequence

from avhubert_ami.cli.boundary import command_parser, configure_logging, run_main
from avhubert_ami.cli.recording_flags import add_recording_flags
from avhubert_ami.decoding.settings import SearchSettings, add_normalizer_flag, add_search_flags
from avhubert_ami.errors import UsageError
from avhubert_ami.meeting.activity import MODES, ActivityConfig
from avhubert_ami.meeting.formats import FORMATS, parse_formats
from avhubert_ami.meeting.sources import AUDIO_SOURCES

PROG = "avhubert-transcribe-meeting"
AMI = "ami"  # --references / --segments: the meeting's AMI annotations
logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``avhubert-transcribe-meeting``."""
    p = command_parser(PROG, __doc__)
    p.add_argument("--path", required=True, help="fine-tuned checkpoint (checkpoint_best.pt)")
    p.add_argument("--output_dir", required=True, help="where ID.seglst.json, ID.rttm, ... go")
    p.add_argument("--meeting_id", default=None, help="session id of the outputs (default: --meeting, else 'meeting')")
    g = p.add_argument_group("an AMI folder")
    g.add_argument("--ami_dir", default=None, help="folder holding amicorpus/<meeting>/{audio,video}/")
    g.add_argument("--meeting", default=None, help="the AMI meeting to transcribe, e.g. ES2004a")
    g.add_argument("--annotations_dir", default=None, help="ami_public_manual_1.6.2 folder or .zip (default: beside)")
    g.add_argument("--camera_map", default=None, help="'meeting agent camera' lines for meetings.xml without cameras")
    g = p.add_argument_group("participants given one by one")
    g.add_argument(
        "--participant",
        nargs=3,
        action="append",
        metavar=("NAME", "VIDEO", "AUDIO"),
        help="a participant: their name, close-up video and headset audio ('-': none); repeat per participant",
    )
    g.add_argument("--room_audio", default=None, help="the room microphone (with --participant)")
    p.add_argument(
        "--audio_source",
        choices=AUDIO_SOURCES,
        default=None,
        help="headset: own headsets (the room for those without); room: the room microphone for everyone; mix: the "
        "headset mix (AMI). Default: room with --room_audio, else headset",
    )
    p.add_argument("--lip_video", action="store_true", help="the videos are mouth clips already (no face detection)")
    p.add_argument("--activity", choices=MODES, default="av", help="who speaks when: lips+audio, audio or lips only")
    p.add_argument(
        "--modalities",
        default="auto",
        help="recognition input: auto (what the model and the inputs have), audio, video or audio,video",
    )
    p.add_argument(
        "--segments",
        default=None,
        metavar="REF",
        help="decode these reference turns (SegLST/RTTM/STM file, or 'ami') instead of the detected activity",
    )
    p.add_argument("--format", default=",".join(FORMATS), help=f"comma-separated among {', '.join(FORMATS)}")
    p.add_argument(
        "--references",
        default=None,
        metavar="REF",
        help="reference transcript (SegLST/STM/RTTM file, or 'ami': the meeting's AMI annotations): cpWER, tcpWER, "
        "DER and a per-speaker breakdown in ID.json and the summary",
    )
    add_normalizer_flag(p)
    add_search_flags(p, "segments")
    add_recording_flags(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; see the module docstring for the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging()
    return run_main(PROG, lambda: transcribe_meeting(args))


def check_flags(args: argparse.Namespace) -> None:
    """Refuse contradictory or incomplete flag combinations (one line naming the flag)."""
    ami, people = args.ami_dir is not None, bool(args.participant)
    if ami and people:
        raise UsageError("--ami_dir and --participant: give an AMI folder or the participants one by one, not both")
    if not ami and not people:
        raise UsageError("nothing to transcribe: give --ami_dir DIR --meeting ID, or --participant NAME VIDEO AUDIO")
    if ami and not args.meeting:
        raise UsageError("--ami_dir needs --meeting (the AMI meeting id, e.g. ES2004a)")
    if not ami:
        for flag in ("meeting", "annotations_dir", "camera_map"):
            if getattr(args, flag) is not None:
                raise UsageError(f"--{flag} goes with --ami_dir")
        for flag in ("references", "segments"):
            if getattr(args, flag) == AMI:
                raise UsageError(f"--{flag} ami reads the AMI annotations: it needs --ami_dir and --meeting")
        if args.audio_source == "mix":
            raise UsageError(
                "--audio_source mix is AMI's Mix-Headset recording (with --ami_dir); give a mix as --room_audio"
            )
        if args.audio_source == "room" and args.room_audio is None:
            raise UsageError("--audio_source room needs --room_audio (the room microphone)")
    elif args.room_audio is not None:
        raise UsageError("--room_audio goes with --participant (an AMI folder's room microphone is its Array1-01.wav)")


def _reference(value: str, args, meeting_id: str, flag: str) -> list:
    """Reference segments of ``--references`` / ``--segments``: a file, or the meeting's AMI annotations."""
    from avhubert_ami.meeting.formats import check_same_meeting, read_segments
    from avhubert_ami.meeting.sources import ami_reference

    if value == AMI:
        return ami_reference(args.ami_dir, args.meeting, annotations_dir=args.annotations_dir, session_id=meeting_id)
    try:
        segments = read_segments(value)
    except FileNotFoundError:
        raise UsageError(f"--{flag} {value}: no such file") from None
    except ValueError as err:
        raise UsageError(f"--{flag} {err}") from None
    try:
        check_same_meeting(segments, meeting_id, f"--{flag} {value}")
    except ValueError as err:
        hint = "" if args.meeting_id else " (or name the meeting with --meeting_id)"
        raise UsageError(f"{err}{hint}") from None
    return segments


def _percent(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def summary(result) -> str:
    """The lines printed at the end: segments, words, real-time factors, notes and scores."""
    from avhubert_ami.meeting.transcriber import STAGES

    words = sum(len(s.words.split()) for s in result.segments)
    rtf = result.stats.rtf()
    lines = [
        f"meeting {result.meeting_id}: {len(result.participants)} participant(s), {result.stats.duration:.1f} s, "
        f"{len(result.segments)} segment(s), {words} word(s), in {result.wall_s:.1f} s",
        "real-time factor (processing s per meeting s, model loading excluded): "
        + ", ".join(f"{k} {v:.3f}" for k, v in rtf.items()),
    ]
    cpu = result.stats.cpu
    if cpu:
        d = max(result.stats.duration, 1e-9)
        lines.append(
            "CPU seconds per meeting second (the work alone, without waiting for shared cores): "
            + ", ".join(f"{k} {cpu.get(k, 0.0) / d:.3f}" for k in STAGES)
            + f", total {sum(cpu.values()) / d:.3f}"
        )
    for p in result.participants:
        cues = "+".join(p.cues) or "none"
        lines.append(
            f"  {p.name}: {p.segments} segment(s), {p.words} word(s); activity from {cues}; "
            f"audio {p.audio_source or 'none'}; video {'yes' if p.video else 'no'}"
            + (f"; notes: {'; '.join(p.notes)}" if p.notes else "")
        )
    lines += [f"note: {n}" for n in result.notes]
    s = result.scores
    if s:
        cp, tcp, d = s["cpwer"], s["tcpwer"], s["der"]
        lines.append(
            f"cpWER {_percent(cp['error_rate'])}, tcpWER {_percent(tcp['error_rate'])} (collar {tcp['collar']:g} s), "
            f"DER {_percent(d['der'])} (collar {d['collar']:g} s); {s['normalizer']} normaliser, "
            f"{cp['reference_words']} reference words"
        )
        for row in cp["per_speaker"]:
            lines.append(
                f"  {row['reference_speaker'] or '-'} <- {row['hypothesis_speaker'] or '-'}: cpWER "
                f"{_percent(row['error_rate'])} ({row['errors']} errors / {row['reference_words']} words)"
            )
    return "\n".join(lines)


def transcribe_meeting(args: argparse.Namespace) -> int:
    """The work of :func:`main` on parsed flags."""
    from avhubert_ami.data.modality import parse_modalities
    from avhubert_ami.meeting.formats import write_meeting
    from avhubert_ami.meeting.scoring import score_meeting
    from avhubert_ami.meeting.sources import ami_meeting, explicit_meeting
    from avhubert_ami.meeting.transcriber import MeetingSettings, MeetingTranscriber

    check_flags(args)
    formats = parse_formats(args.format)
    mods = parse_modalities(args.modalities, allow_auto=True)
    search = SearchSettings.from_args(args)
    source = args.audio_source or ("room" if args.room_audio else "headset")
    settings = MeetingSettings(
        audio_source=source, modalities=tuple(mods) if mods else None, landmark_backend=args.backend
    ).check()
    if args.ami_dir is not None:
        meeting = ami_meeting(
            args.ami_dir,
            args.meeting,
            annotations_dir=args.annotations_dir,
            camera_map=args.camera_map,
            lip_video=args.lip_video,
            meeting_id=args.meeting_id,
        )
    else:
        people: List = args.participant
        meeting = explicit_meeting(args.meeting_id or "meeting", people, args.room_audio, args.lip_video)
    references = _reference(args.references, args, meeting.meeting_id, "references") if args.references else None
    oracle = _reference(args.segments, args, meeting.meeting_id, "segments") if args.segments else None
    transcriber = MeetingTranscriber.from_checkpoint(
        args.path,
        search,
        data_dir=args.data,
        device="cpu" if args.cpu else None,
        settings=settings,
        activity=ActivityConfig(mode=args.activity),
    )
    result = transcriber.transcribe(meeting, segments=oracle, progress=True)
    if oracle is not None:
        result.settings["segments_file"] = args.segments
    if references is not None:
        result.scores = score_meeting(references, result.segments, args.normalizer)
        result.scores["references"] = args.references
    paths = write_meeting(args.output_dir, result.meeting_id, result.segments, formats, result.meta())
    print(summary(result))
    for path in paths:
        logger.info("wrote %s", path)
    if result.scores:
        s = result.scores
        print(
            json.dumps(
                {
                    "cpwer": s["cpwer"]["error_rate"],
                    "tcpwer": s["tcpwer"]["error_rate"],
                    "der": s["der"]["der"],
                    "normalizer": s["normalizer"],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
