"""Hugging Face dataset (audio + lip_video + transcript) -> AV-HuBERT manifests and media.

    avhubert-hf-to-manifest --dataset_name PATH --output_dir DIR

``PATH`` is a dataset saved with ``save_to_disk`` (DatasetDict or Dataset), a folder of
parquet/csv/json(l)/arrow files whose names (or folders) say train / validation (valid, dev) / test
(media files may sit beside them), or anything else ``datasets.load_dataset`` accepts. Splits
``train`` / ``validation`` (-> ``valid``) / ``test`` become ``DIR/{train,valid,test}.tsv`` + ``.wrd``;
media go to ``DIR/<split>/audio/<id>.wav`` (16 kHz mono) and ``DIR/<split>/video/<id>.mkv``
(25 fps, 96x96 gray, lossless ffv1; ``--video_format mp4`` for libx264). Paths in the tsv are
relative to its root line (the absolute ``DIR``).

Columns: ``audio`` -- an HF ``Audio`` feature (read undecoded, decoded here), a file path, or a
dict ``{array, sampling_rate}``; ``lip_video`` -- a file path (relative paths resolve against the
dataset folder), an undecoded ``{bytes, path}`` dict, or frames T x H x W [x C]; ``transcript``.
The lip video is already a mouth clip: it is only resampled to 25 fps, converted to gray and
resized, unless ``--detect_roi`` asks for face-landmark mouth cropping.
A thin wrapper of :func:`avhubert_ami.prep.hf_dataset.prepare_hf_dataset`.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from avhubert_ami.cli.boundary import command_parser, flags, run_preparation
from avhubert_ami.prep.constants import SPLITS
from avhubert_ami.prep.flags import add_utterance_writer_args, writer_options
from avhubert_ami.prep.hf_dataset import Columns, prepare_hf_dataset
from avhubert_ami.prep.runtime.summary import Summary

PROG = "avhubert-hf-to-manifest"


def convert(args: argparse.Namespace) -> Summary:
    """Run :func:`prepare_hf_dataset` with parsed :func:`build_parser` flags."""
    columns = Columns(audio=args.audio_column, video=args.video_column, text=args.text_column, id=args.id_column)
    names = ("dataset_config", "single_split", "array_fps", "detect_roi", "backend")
    return prepare_hf_dataset(
        args.dataset_name, args.output_dir, columns=columns, writer=writer_options(args), **flags(args, *names)
    )


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``avhubert-hf-to-manifest``."""
    p = command_parser(PROG, __doc__)
    p.add_argument("--dataset_name", required=True, help="save_to_disk folder, local data folder or hub name")
    p.add_argument("--dataset_config", default=None, help="configuration name for load_dataset (e.g. 'ihm')")
    p.add_argument("--output_dir", required=True, help="where {split}.tsv/.wrd and media are written")
    p.add_argument("--audio_column", default="audio", help="column of the audio (HF Audio, path or array)")
    p.add_argument("--video_column", default="lip_video", help="column of the lip video (path, bytes or frames)")
    p.add_argument("--text_column", default="transcript", help="column of the transcript")
    p.add_argument("--id_column", default="id", help="utterance ids (default: <split>-<row index> if absent)")
    p.add_argument(
        "--single_split", default="train", choices=SPLITS, help="split name for a dataset that is not a DatasetDict"
    )
    p.add_argument("--array_fps", type=float, default=25.0, help="frame rate of lip_video given as frame arrays")
    p.add_argument(
        "--detect_roi",
        action="store_true",
        help="lip_video is a face video: find the mouth with face landmarks (as avhubert-mouth-roi does)",
    )
    add_utterance_writer_args(p, backend_when=" for --detect_roi")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Console entry point (``avhubert-hf-to-manifest``)."""
    return run_preparation(build_parser(), convert, "hf_to_manifest", argv)


if __name__ == "__main__":
    sys.exit(main())
