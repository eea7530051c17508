"""Face videos -> 96x96 gray mouth-ROI videos at 25 fps (the AV-HuBERT / LRS3 mouth ROI).

    avhubert-mouth-roi --input VIDEO|DIR --output ROI.mkv|DIR

A thin wrapper of :func:`avhubert_ami.prep.mouth_roi.extract_mouth_roi`; ``--help`` describes the method.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from avhubert_ami.cli.boundary import command_parser, flags, run_preparation
from avhubert_ami.prep import mouth_roi as roi
from avhubert_ami.prep.flags import (
    add_backend_arg,
    add_shard_args,
    add_worker_args,
    engine_from_args,
    shard_from_args,
)
from avhubert_ami.prep.mouth_roi import extract_mouth_roi
from avhubert_ami.prep.runtime.summary import Summary

PROG = "avhubert-mouth-roi"


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``avhubert-mouth-roi``."""
    p = command_parser(PROG, roi.__doc__)
    p.add_argument("--input", required=True, help="a face video, or a folder of them")
    p.add_argument("--output", required=True, help="ROI video (.mkv ffv1 / .mp4 libx264), or a folder")
    p.add_argument(
        "--video_format",
        default="keep",
        choices=["keep", "mkv", "mp4"],
        help="folder mode: output container (keep = same name when .mkv/.avi/.mp4, else .mkv)",
    )
    p.add_argument("--window", type=int, default=12, help="landmark smoothing window in frames")
    add_backend_arg(p)
    add_worker_args(p)
    add_shard_args(p)
    return p


def convert(args: argparse.Namespace) -> Summary:
    """Crop the mouths the parsed flags ask for."""
    return extract_mouth_roi(
        args.input,
        args.output,
        shard=shard_from_args(args),
        engine=engine_from_args(args),
        **flags(args, "video_format", "window", "backend", "num_workers", "overwrite", "wait"),
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Console entry point (``avhubert-mouth-roi``)."""
    return run_preparation(build_parser(), convert, "mouth_roi", argv)


if __name__ == "__main__":
    sys.exit(main())
