"""``avhubert-transcribe``: transcribe recordings (video with audio, video + separate audio, audio alone, or a
folder of them) with a fine-tuned checkpoint; writes NAME.txt / .json / .srt / .vtt per input.

    avhubert-transcribe --path CKPT INPUT [INPUT ...] --output_dir OUT [--audio AUDIO] [--lip_video]
        [--format txt,json,srt,vtt] [--beam 5] [--ctc_weight W] [--lm_path LM --lm_weight W]
        [--modalities auto|audio|video|audio,video] [--references REFS --normalizer basic|kaldi|whisper]

Exit status: 0 when every input was transcribed, 1 when some failed (named in the summary), 2 for bad usage
or a checkpoint that cannot transcribe.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from avhubert_ami.cli.boundary import command_parser, configure_logging, run_main
from avhubert_ami.data.modality import parse_modalities
from avhubert_ami.decoding.recognizer import Recognizer
from avhubert_ami.decoding.settings import SearchSettings, add_normalizer_flag, add_search_flags
from avhubert_ami.errors import MediaError
from avhubert_ami.transcribe.media import AUDIO_EXTS, VIDEO_EXTS
from avhubert_ami.transcribe.transcriber import TranscribeError, Transcriber, TranscribeSettings
from avhubert_ami.transcribe.vad import VadConfig
from avhubert_ami.transcribe.writers import FORMATS, parse_formats, write_outputs

PROG = "avhubert-transcribe"
logger = logging.getLogger(__name__)


def list_inputs(inputs: Sequence[str]) -> List[Tuple[str, str]]:
    """``[(media file, output name)]``: files as given, folders walked (sorted) for media files, the name keeping
    the path below the folder so equal file names in sub-folders do not collide; files that would still share a
    name (``a.mp4`` and ``a.wav``) get their extension appended (``a_mp4``, ``a_wav``)."""
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
    counts: Dict[str, int] = {}
    for _, name in out:
        counts[name] = counts.get(name, 0) + 1
    return [
        (path, name if counts[name] == 1 else f"{name}_{os.path.splitext(path)[1].lstrip('.').lower()}")
        for path, name in out
    ]


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
    media_s: float = 0.0
    wall_s: float = 0.0
    word_errors: int = 0
    words: int = 0

    def report(self, normalizer: str) -> str:
        lines = [
            f"transcribed {len(self.done)} file(s), {self.media_s:.1f} s of media in {self.wall_s:.1f} s "
            f"(real-time factor {self.wall_s / max(self.media_s, 1e-9):.3f})"
        ]
        if self.words:
            lines.append(
                f"WER {100.0 * self.word_errors / self.words:.2f} ({normalizer} normalizer, "
                f"{self.words} reference words)"
            )
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
        "--modalities", default="auto", help="auto (what the model and the input have), audio, video or audio,video"
    )
    add_search_flags(p, "segments")
    p.add_argument("--data", default=None, help="manifest folder holding dict.wrd.txt, for checkpoints without it")
    p.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "mediapipe", "dlib", "haar"),
        help="face landmark detector for the mouth ROI (avhubert_ami.prep.landmarks)",
    )
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
    """The work of :func:`main` on parsed flags."""
    from avhubert_ami.scoring.wer import error_counts

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
    recognizer = Recognizer.from_checkpoint(args.path, search, data_dir=args.data, device="cpu" if args.cpu else None)
    t = Transcriber(recognizer, settings, vad)
    summary = Summary()
    t_start = time.perf_counter()
    for path, name in jobs:
        notes: List[str] = []
        t0 = time.perf_counter()
        try:
            segments = t.transcribe(
                video=path, audio=args.audio, lip_video=args.lip_video, modalities=mods, notes=notes, progress=True
            )
        except (TranscribeError, MediaError) as err:
            logger.error("%s", err)
            summary.failed.append((path, str(err)))
            continue
        except Exception as err:  # noqa: BLE001 - one unexpected failure must not stop a folder; trace logged
            logger.exception("%s: unexpected error", path)
            summary.failed.append((path, f"{type(err).__name__}: {err}"))
            continue
        wall = time.perf_counter() - t0
        meta: Dict[str, object] = {
            "input": os.path.abspath(path),
            "audio": os.path.abspath(args.audio) if args.audio else None,
            **t.settings_dict(),
            "notes": notes,
            "media_s": round(t.stats.media_s, 3),
            "wall_s": round(wall, 3),
            "rtf": t.stats.rtf(),
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
            summary.word_errors += e
            summary.words += n
        write_outputs(args.output_dir, name, segments, meta, formats)
        summary.done.append(path)
        summary.media_s += t.stats.media_s
        for note in notes:
            logger.info("%s: %s", name, note)
        logger.info(
            "%s: %d segment(s), %.1f s of media in %.1f s (RTF %.3f)",
            name,
            len(segments),
            t.stats.media_s,
            wall,
            wall / max(t.stats.media_s, 1e-9),
        )
    summary.wall_s = time.perf_counter() - t_start
    print(summary.report(args.normalizer))
    if summary.words:
        print(json.dumps({"wer": round(100.0 * summary.word_errors / summary.words, 2), "normalizer": args.normalizer}))
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
