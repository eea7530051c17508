"""argparse flag groups shared by the preprocessing CLIs, and the conversion of parsed flags into the keyword
arguments of the ``prepare_*`` functions."""

from __future__ import annotations

import argparse
from typing import Optional

from avhubert_ami.prep.constants import VIDEO_FORMATS
from avhubert_ami.prep.landmarks import BACKENDS
from avhubert_ami.prep.runtime.engine import ENGINES, Engine
from avhubert_ami.prep.runtime.options import WriterOptions
from avhubert_ami.prep.runtime.shards import Shard, shard_from_flags


def add_text_args(parser: argparse.ArgumentParser) -> None:
    """Transcript-normalisation flags shared by the CLIs."""
    g = parser.add_argument_group("transcript normalisation")
    g.add_argument("--keep_case", action="store_true", help="do not lower-case transcripts")
    g.add_argument("--keep_punctuation", action="store_true", help="do not strip punctuation")
    g.add_argument(
        "--drop_disfluencies",
        action="store_true",
        help="remove AMI disfluency tokens (um, uh, mm-hmm, truncated words like 'th-', <vocalsound>)",
    )


#: spellings of ``--num_workers`` that earlier versions (or other commands) used: accepted, not shown in ``--help``
WORKER_FLAG_ALIASES = ("--num-workers", "--workers")


def add_num_workers_arg(parser: argparse.ArgumentParser, default: int, help: str) -> None:
    """``--num_workers N``, the one spelling of every command's worker count, stored as ``num_workers``;
    :data:`WORKER_FLAG_ALIASES` set the same value but stay out of ``--help``."""
    parser.add_argument("--num_workers", dest="num_workers", type=positive_int, default=default, help=help)
    parser.add_argument(
        *WORKER_FLAG_ALIASES, dest="num_workers", type=positive_int, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def positive_int(value: str) -> int:
    """An integer >= 1 (argparse type: a bad value is a one-line usage error naming the flag)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number >= 1 expected, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return n


def add_worker_args(parser: argparse.ArgumentParser) -> None:
    """``--num_workers`` / ``--engine`` / ``--scheduler`` / ``--overwrite`` / ``--wait`` flags shared by the CLIs."""
    add_num_workers_arg(
        parser,
        1,
        "worker processes (1 = in this process); with --engine dask and no --scheduler, a local Dask "
        "cluster of this many processes",
    )
    parser.add_argument(
        "--engine",
        default="local",
        choices=ENGINES,
        help="where the per-utterance jobs run: local = this machine's processes; dask = a Dask cluster "
        "([cluster] extra; this process still writes the journal and manifests)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --engine dask: a running Dask scheduler (tcp://host:8786) whose workers share the input and "
        "output paths; without it, a local cluster of --num_workers processes",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="forget earlier progress in --output_dir and redo every utterance",
    )
    add_wait_arg(parser)


def add_wait_arg(parser: argparse.ArgumentParser) -> None:
    """``--wait``: queue behind another run writing the same output folder instead of stopping."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help="when another run is writing the output folder, wait for it to finish instead of stopping",
    )


def add_media_args(parser: argparse.ArgumentParser) -> None:
    """``--video_format`` / ``--av_tolerance_s`` / ``--precompute_features`` flags shared by the CLIs that
    write utterances."""
    parser.add_argument(
        "--video_format",
        default="mkv",
        choices=sorted(VIDEO_FORMATS),
        help="mkv = lossless ffv1 (default), mp4 = libx264",
    )
    parser.add_argument(
        "--av_tolerance_s",
        type=float,
        default=0.12,
        help="audio is trimmed/padded to the video length when they differ by at most this; "
        "rows that differ more are dropped",
    )
    parser.add_argument(
        "--precompute_features",
        action="store_true",
        help="also write <audio without .wav>.fbank.npy (104-dim stacked log-fbank at 25 Hz), "
        "which the dataset reads instead of the wav",
    )


def add_utterance_writer_args(parser: argparse.ArgumentParser, backend_when: str = "") -> None:
    """Landmark backend, media, transcript-normalisation, worker and shard flags of the CLIs that write manifests
    (``backend_when``: when the ``--backend`` detector is used, e.g. " for --detect_roi")."""
    add_backend_arg(parser, backend_when)
    add_media_args(parser)
    add_text_args(parser)
    add_worker_args(parser)
    add_shard_args(parser)


def add_backend_arg(parser: argparse.ArgumentParser, when: str = "") -> None:
    """The ``--backend`` flag of the CLIs that find mouths (``when``: e.g. " for --detect_roi")."""
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help=f"landmark detector{when}: mediapipe (face mesh), dlib (upstream's 68-point recipe, "
        "[dlib] extra), haar (coarse); auto = mediapipe, else dlib, else haar",
    )


def add_shard_args(parser: argparse.ArgumentParser) -> None:
    """``--num_shards`` / ``--shard_index`` (see ``avhubert_ami/prep/runtime/shards.py``)."""
    g = parser.add_argument_group("sharding (several processes or machines; see avhubert_ami/prep/runtime/shards.py)")
    g.add_argument(
        "--num_shards",
        type=int,
        default=1,
        help="split the work into this many shards (run each with --shard_index, then once without)",
    )
    g.add_argument("--shard_index", type=int, default=None, help="which shard this run does, 0..num_shards-1")


def shard_from_args(args: argparse.Namespace) -> Optional[Shard]:
    """The shard of parsed :func:`add_shard_args` flags (None: unsharded); bad values raise PreparationError."""
    return shard_from_flags(getattr(args, "num_shards", 1), getattr(args, "shard_index", None))


def engine_from_args(args: argparse.Namespace) -> Engine:
    """The :class:`Engine` of parsed :func:`add_worker_args` flags; ``--scheduler`` without ``--engine dask``
    raises PreparationError."""
    return Engine(args.engine, args.scheduler)


def writer_options(args: argparse.Namespace) -> WriterOptions:
    """:class:`WriterOptions` from parsed :func:`add_utterance_writer_args` flags."""
    return WriterOptions(
        video_format=args.video_format,
        av_tolerance_s=args.av_tolerance_s,
        precompute_features=args.precompute_features,
        lowercase=not args.keep_case,
        strip_punctuation=not args.keep_punctuation,
        keep_disfluencies=not args.drop_disfluencies,
        num_workers=args.num_workers,
        engine=engine_from_args(args),
        overwrite=args.overwrite,
        wait=args.wait,
        shard=shard_from_args(args),
    )
