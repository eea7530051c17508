"""The raw AMI meeting corpus -> AV-HuBERT manifests (16 kHz headset/array audio + close-up mouth ROIs).

    avhubert-ami-corpus --ami_dir DIR --output_dir OUT [--annotations_dir DIR]
        [--mic ihm|sdm] [--partition full-corpus-asr] [--camera_map FILE]
        [--min_duration S --max_duration S]

``DIR`` holds ``amicorpus/<meeting>/{audio,video}/`` (or is ``amicorpus/``): audio
``<meeting>.Headset-N.wav`` (ihm) or ``<meeting>.Array1-01.wav`` (sdm, first microphone of array 1),
video ``<meeting>.Closeup{1..4}.avi``. Annotations (NXT: ``words/``, ``segments/``,
``corpusResources/meetings.xml``) default to ``ami_public_manual_1.6.2/`` (folder or ``.zip``, read in
place) beside ``amicorpus/``.

Utterances are lhotse's AMI segmentation (``lhotse.recipes.ami``; the ``[ami]`` extra installs it):
each transcriber segment split at full stops, timed by its words; only ``<w>`` words are transcribed
(vocal sounds, disfluency markers, gaps are not, as in Kaldi's and lhotse's recipes; filled pauses
such as ``um``/``mm-hmm`` are words and kept unless ``--drop_disfluencies``). Speaker -> headset
channel and -> close-up camera come only from ``meetings.xml`` (``<speaker nxt_agent=.. channel=N
camera=CloseupK>``, bare ``K`` accepted); when a camera attribute is missing, give ``--camera_map FILE``
with ``meeting agent camera`` lines. Audio and the speaker's close-up are cut to the utterance; the
close-up goes through the landmark mouth-ROI step (as ``avhubert-mouth-roi`` does). Splits train/valid/test =
the partition's train/dev/eval meeting lists. A thin wrapper of :func:`avhubert_ami.prep.ami.prepare_ami`.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from avhubert_ami.cli.boundary import command_parser, flags, run_preparation
from avhubert_ami.prep.ami import MICS, PARTITION_NAMES, prepare_ami
from avhubert_ami.prep.flags import add_utterance_writer_args, writer_options
from avhubert_ami.prep.runtime.summary import Summary

PROG = "avhubert-ami-corpus"


def convert(args: argparse.Namespace) -> Summary:
    """Run :func:`prepare_ami` with parsed :func:`build_parser` flags."""
    names = ("mic", "partition", "annotations_dir", "camera_map", "min_duration", "max_duration", "backend")
    return prepare_ami(args.ami_dir, args.output_dir, writer=writer_options(args), **flags(args, *names))


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``avhubert-ami-corpus``."""
    p = command_parser(PROG, __doc__)
    p.add_argument("--ami_dir", required=True, help="folder holding amicorpus/ (or amicorpus/ itself)")
    p.add_argument(
        "--annotations_dir", default=None, help="ami_public_manual_1.6.2 folder or .zip (default: beside amicorpus/)"
    )
    p.add_argument("--output_dir", required=True, help="where {split}.tsv/.wrd and media are written")
    p.add_argument("--mic", default="ihm", choices=MICS, help="ihm: Headset-N.wav, sdm: Array1-01.wav")
    p.add_argument(
        "--partition",
        default="full-corpus-asr",
        choices=PARTITION_NAMES,
        help="AMI's meeting lists for the splits: train / dev / eval become train / valid / test",
    )
    p.add_argument("--camera_map", default=None, help="file of 'meeting agent camera' lines (overrides meetings.xml)")
    p.add_argument("--min_duration", type=float, default=0.0, help="drop segments shorter than this (s)")
    p.add_argument("--max_duration", type=float, default=float("inf"), help="drop segments longer than this (s)")
    add_utterance_writer_args(p)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Console entry point (``avhubert-ami-corpus``)."""
    return run_preparation(build_parser(), convert, "ami_corpus", argv)


if __name__ == "__main__":
    sys.exit(main())
