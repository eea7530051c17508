"""``avhubert-transcribe``: transcribe recordings (video with audio, video + separate audio, audio alone, or a
folder of them) with a fine-tuned checkpoint; writes NAME.txt / .json / .srt / .vtt per input.

    avhubert-transcribe --path CKPT INPUT [INPUT ...] --output_dir OUT [--audio AUDIO] [--lip_video]
        [--format txt,json,srt,vtt] [--beam 5] [--ctc_weight W] [--lm_path LM --lm_weight W]
        [--modalities auto|audio|video|audio,video] [--references REFS --normalizer basic|kaldi|whisper]

Every input gets its own outputs: OUT/NAME.* with NAME the file name without its extension (below a folder INPUT,
its path there); inputs that would share a name keep their folders below their common parent (d1/x.wav and
d2/x.wav -> OUT/d1/x.*, OUT/d2/x.*), else their extension (a.mp4 and a.wav -> a_mp4, a_wav). A NAME.json left by
another input is not replaced unless --overwrite; one run writes into OUT at a time (--wait to queue behind it).

A stream that ends before its declared length, or a video shorter than its --audio, is transcribed as far as it
goes and said so (NAME.json: decoded_s, complete, ended_early, notes; the summary). An input that cannot be read or
whose outputs cannot be written is named in the summary and the others are still transcribed.

Real-time factor: wall-clock seconds spent transcribing an input (model loading and writing outputs excluded) per
second of media transcribed; the progress bar, the log, NAME.json and the summary show that one number.

Exit status: 0 when every input was transcribed, 1 when some failed (named in the summary), 2 for bad usage
or a checkpoint that cannot transcribe.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from avhubert_ami.cli.boundary import command_parser, configure_logging, run_main
from avhubert_ami.cli.recording_flags import add_recording_flags
from avhubert_ami.data.modality import parse_modalities
from avhubert_ami.decoding.recognizer import Recognizer
from avhubert_ami.decoding.settings import SearchSettings, add_normalizer_flag, add_search_flags
from avhubert_ami.errors import MediaError, UsageError, WorkError
from avhubert_ami.transcribe.media import AUDIO_EXTS, VIDEO_EXTS
from avhubert_ami.transcribe.transcriber import (
    TranscribeError,
    Transcriber,
    TranscribeSettings,
    format_rtf,
    real_time_factor,
)
from avhubert_ami.transcribe.vad import VadConfig, require_vad
from avhubert_ami.transcribe.writers import FORMATS, parse_formats, write_outputs

PROG = "avhubert-transcribe"
logger = logging.getLogger(__name__)


def list_inputs(inputs: Sequence[str]) -> List[Tuple[str, str]]:
    """``[(media file, output name)]``: files as given, folders walked (sorted) for media files, each name unique
    (:func:`unique_names`); a file listed twice (also inside a folder given) is transcribed once, with a warning."""
    out: List[Tuple[str, str]] = []
    for inp in inputs:
        if os.path.isdir(inp):
            found = []
            for d, _, files in sorted(os.walk(inp)):
                for f in sorted(files):
                    if f.lower().endswith(VIDEO_EXTS + AUDIO_EXTS):
                        path = os.path.join(d, f)
                        found.append((path, os.path.splitext(os.path.relpath(path, inp))[0]))
            if not found:
                raise TranscribeError(f"{inp}: no media files ({', '.join(VIDEO_EXTS + AUDIO_EXTS)}) in this folder")
            out += found
        elif os.path.isfile(inp):
            out.append((inp, os.path.splitext(os.path.basename(inp))[0]))
        else:
            raise TranscribeError(f"{inp}: no such file or folder")
    seen: Dict[str, str] = {}
    unique = []
    for path, name in out:
        real = os.path.realpath(path)
        if real in seen:
            logger.warning("%s: listed twice (as %s): transcribed once", path, seen[real])
            continue
        seen[real] = path
        unique.append((path, name))
    return unique_names(unique)


def _colliding(names: Sequence[str]) -> Dict[str, List[int]]:
    groups: Dict[str, List[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    return {name: idx for name, idx in groups.items() if len(idx) > 1}


def unique_names(jobs: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """Output names that no two inputs share: inputs whose names collide keep their folders below their common
    parent folder (``d1/x.wav``, ``d2/x.wav`` -> ``d1/x``, ``d2/x``), then their extension (``a.mp4``, ``a.wav`` ->
    ``a_mp4``, ``a_wav``); :class:`TranscribeError` (before any work) when names still collide."""
    paths = [p for p, _ in jobs]
    names = [n for _, n in jobs]
    for idx in _colliding(names).values():
        parent = os.path.commonpath([os.path.dirname(os.path.abspath(paths[i])) for i in idx])
        for i in idx:
            names[i] = os.path.splitext(os.path.relpath(os.path.abspath(paths[i]), parent))[0]
    for idx in _colliding(names).values():
        for i in idx:
            names[i] += "_" + os.path.splitext(paths[i])[1].lstrip(".").lower()
    clash = _colliding(names)
    if clash:
        name, idx = next(iter(clash.items()))
        raise TranscribeError(
            f"{' and '.join(paths[i] for i in idx)} would both be written as {name}.*: rename one, or transcribe them "
            "into separate --output_dir"
        )
    return list(zip(paths, names))


def check_outputs_free(jobs: Sequence[Tuple[str, str]], output_dir: str) -> None:
    """Refuse, before any work, to replace a transcript another input left in ``output_dir`` (its ``NAME.json``
    records which input it transcribed); re-running on the same input replaces its transcript."""
    for path, name in jobs:
        previous = os.path.join(output_dir, f"{name}.json")
        try:
            with open(previous, encoding="utf-8") as f:
                source = json.load(f).get("input")
        except (OSError, ValueError, AttributeError):
            continue  # no transcript there (or not ours): nothing to protect
        if source and os.path.realpath(source) != os.path.realpath(path):
            raise TranscribeError(
                f"{previous} holds the transcript of {source}; {path} would replace it: choose another --output_dir, "
                "or pass --overwrite"
            )


def read_references(path: str, names: Sequence[str]) -> Dict[str, str]:
    """``NAME<TAB>reference`` lines (NAME as the output name); for a single input, plain text is its reference."""
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    refs: Dict[str, str] = {}
    if all("\t" in line for line in lines if line.strip()) and any(line.strip() for line in lines):
        for line in lines:
            if line.strip():
                name, text = line.split("\t", 1)
                refs[name.strip()] = text.strip()
    elif len(names) == 1:
        refs[names[0]] = " ".join(line.strip() for line in lines)
    else:
        raise TranscribeError(f"--references {path}: expected NAME<TAB>TEXT lines (one per input)")
    return refs


@dataclass
class Summary:
    """Per-run totals printed at the end."""

    done: List[str] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)
    incomplete: List[Tuple[str, str]] = field(default_factory=list)  # (input, how far its streams went)
    media_s: float = 0.0  # seconds of media transcribed
    wall_s: float = 0.0  # seconds spent transcribing them (the real-time factor's numerator)
    word_errors: int = 0
    words: int = 0

    def report(self, normalizer: str) -> str:
        """The summary printed at the end of a run."""
        lines = [
            f"transcribed {len(self.done)} file(s), {self.media_s:.1f} s of media in {self.wall_s:.1f} s "
            f"(real-time factor {format_rtf(real_time_factor(self.wall_s, self.media_s))})"
        ]
        if self.words:
            lines.append(
                f"WER {100.0 * self.word_errors / self.words:.2f} ({normalizer} normalizer, "
                f"{self.words} reference words)"
            )
        if self.incomplete:
            lines.append(f"ENDED EARLY {len(self.incomplete)} file(s), transcribed as far as they go:")
            lines += [f"  {path}: {what}" for path, what in self.incomplete]
        if self.failed:
            lines.append(f"FAILED {len(self.failed)} file(s):")
            lines += [f"  {path}: {err}" for path, err in self.failed]
        return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``avhubert-transcribe``."""
    p = command_parser(PROG, __doc__)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video / audio files or folders of them")
    p.add_argument("--path", required=True, help="fine-tuned checkpoint (checkpoint_best.pt)")
    p.add_argument("--output_dir", required=True, help="where NAME.txt/.json/.srt/.vtt go")
    p.add_argument("--audio", default=None, help="separate audio of the (single) video INPUT, e.g. an AMI headset")
    p.add_argument("--lip_video", action="store_true", help="the videos are already mouth clips (no face detection)")
    p.add_argument("--format", default="txt,json,srt,vtt", help=f"comma-separated among {', '.join(FORMATS)}")
    p.add_argument(
        "--overwrite", action="store_true", help="replace transcripts that another input left under the same name"
    )
    p.add_argument("--wait", action="store_true", help="wait for another run writing to --output_dir to finish")
    p.add_argument(
        "--modalities", default="auto", help="auto (what the model and the input have), audio, video or audio,video"
    )
    add_search_flags(p, "segments")
    add_recording_flags(p)
    p.add_argument("--vad_aggressiveness", type=int, default=2, choices=(0, 1, 2, 3), help="WebRTC VAD mode")
    p.add_argument(
        "--min_silence_s",
        type=float,
        default=VadConfig.min_silence_s,
        help="pauses shorter than this do not end a segment",
    )
    p.add_argument(
        "--max_segment_s",
        type=float,
        default=VadConfig.max_segment_s,
        help="longest segment (capped at the model's training maximum)",
    )
    p.add_argument("--window_s", type=float, default=10.0, help="video without audio: window length (s)")
    p.add_argument("--window_overlap_s", type=float, default=1.0, help="video without audio: window overlap (s)")
    p.add_argument(
        "--references",
        default=None,
        help="NAME<TAB>reference lines (or plain text for one input): WER per file in NAME.json and in the summary",
    )
    add_normalizer_flag(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; see the module docstring for the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging()
    return run_main(PROG, lambda: transcribe(args))


def transcribe(args) -> int:
    """The work of :func:`main` on parsed flags: everything is checked before the model loads, then each input is
    transcribed and written, a failure recorded and the next input tried."""
    from avhubert_ami.prep.runtime.locking import output_lock

    formats = parse_formats(args.format)
    mods = parse_modalities(args.modalities, allow_auto=True)
    jobs = list_inputs(args.inputs)
    if args.audio is not None and (len(jobs) != 1 or not os.path.isfile(args.audio)):
        raise TranscribeError("--audio goes with exactly one video INPUT and must be a file")
    refs = read_references(args.references, [n for _, n in jobs]) if args.references else {}
    search = SearchSettings.from_args(args)
    settings = TranscribeSettings(args.window_s, args.window_overlap_s, landmark_backend=args.backend).check()
    vad = VadConfig(
        aggressiveness=args.vad_aggressiveness, min_silence_s=args.min_silence_s, max_segment_s=args.max_segment_s
    ).check()
    require_vad()
    with output_lock(args.output_dir, wait=args.wait):
        if not args.overwrite:
            check_outputs_free(jobs, args.output_dir)
        recognizer = Recognizer.from_checkpoint(
            args.path, search, data_dir=args.data, device="cpu" if args.cpu else None
        )
        t = Transcriber(recognizer, settings, vad)
        summary = Summary()
        for path, name in jobs:
            transcribe_one(t, path, name, args, mods, formats, refs, summary)
    print(summary.report(args.normalizer))
    if summary.words:
        print(json.dumps({"wer": round(100.0 * summary.word_errors / summary.words, 2), "normalizer": args.normalizer}))
    return 1 if summary.failed else 0


def _os_error_line(err: OSError) -> str:
    """An OSError of one input in one line (the batch goes on: no advice to re-run from here)."""
    what = err.strerror or str(err) or type(err).__name__
    return f"{err.filename}: {what}" if err.filename else what


def transcribe_one(
    t: Transcriber,
    path: str,
    name: str,
    args: argparse.Namespace,
    mods: Optional[Sequence[str]],
    formats: Sequence[str],
    refs: Dict[str, str],
    summary: Summary,
) -> None:
    """Transcribe ``path`` into ``OUT/name.*`` and account for it in ``summary`` (a failure is recorded there)."""
    from avhubert_ami.scoring.wer import error_counts

    notes: List[str] = []
    try:
        segments = t.transcribe(
            video=path, audio=args.audio, lip_video=args.lip_video, modalities=mods, notes=notes, progress=True
        )
    except (UsageError, MediaError, WorkError, OSError) as err:
        message = _os_error_line(err) if isinstance(err, OSError) else str(err)
        logger.error("%s", message if path in message else f"{path}: {message}")
        summary.failed.append((path, message))
        return
    except Exception as err:  # noqa: BLE001 - one unexpected failure must not stop a folder; trace logged
        logger.exception("%s: unexpected error", path)
        summary.failed.append((path, f"{type(err).__name__}: {err}"))
        return
    stats = t.stats
    meta: Dict[str, object] = {
        "input": os.path.abspath(path),
        "audio": os.path.abspath(args.audio) if args.audio else None,
        **t.settings_dict(),
        "notes": notes,
        "media_s": round(stats.media_s, 3),
        "decoded_s": round(stats.decoded_s, 3),
        "complete": not stats.ended_early,
        "ended_early": stats.ended_early,
        "wall_s": round(stats.wall_s, 3),
        "rtf": stats.rtf(),
    }
    if name in refs:
        hyp = " ".join(s.text for s in segments if s.text)
        e, n = error_counts(hyp, refs[name], normalizer=args.normalizer)
        meta["score"] = {
            "wer": round(100.0 * e / max(n, 1), 2),
            "word_errors": e,
            "ref_words": n,
            "normalizer": args.normalizer,
            "reference": refs[name],
        }
    try:
        write_outputs(args.output_dir, name, segments, meta, formats)
    except OSError as err:  # a full disk, a read-only folder, a name too long for the file system
        message = f"writing {os.path.join(args.output_dir, name)}.*: {_os_error_line(err)}"
        logger.error("%s: %s", path, message)
        summary.failed.append((path, message))
        return
    if "score" in meta:
        summary.word_errors += meta["score"]["word_errors"]
        summary.words += meta["score"]["ref_words"]
    summary.done.append(path)
    summary.media_s += stats.decoded_s
    summary.wall_s += stats.wall_s
    if stats.ended_early:
        summary.incomplete.append(
            (
                path,
                ", ".join(
                    f"{k} ends at {v['ends_s']:.2f} of {v['declared_s']:.2f} s" for k, v in stats.ended_early.items()
                ),
            )
        )
    for note in notes:
        logger.info("%s: %s", name, note)
    logger.info(
        "%s: %d segment(s), %.1f s of media in %.1f s (real-time factor %s)",
        name,
        len(segments),
        stats.decoded_s,
        stats.wall_s,
        format_rtf(stats.rtf()["total"]),
    )


if __name__ == "__main__":
    sys.exit(main())
