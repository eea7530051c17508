"""Check a manifest folder's frame and sample counts against its media files.

    avhubert-verify-manifest --manifest_dir DIR [--splits train valid test]

Every video's frame count must equal the row's ``n_video_frames`` (batches are sized by it and the audio is cut to
it); an audio-only row's ``n_audio_samples`` must be within one video frame (640 samples) of its 16 kHz wav. Files
are probed, not decoded (about a millisecond a row). Prints one ``tsv:line (id): problem`` line per bad row and
exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from avhubert_ami.cli.boundary import command_parser, configure_logging, run_main
from avhubert_ami.data.constants import SPLITS
from avhubert_ami.errors import EXIT_FAILED, UsageError

PROG = "avhubert-verify-manifest"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``avhubert-verify-manifest``."""
    p = command_parser(PROG, __doc__)
    p.add_argument("--manifest_dir", required=True, help="folder of {split}.tsv manifests")
    p.add_argument("--splits", nargs="+", default=None, help="splits to check (default: every {train,valid,test}.tsv)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: verify the splits of a manifest folder; exit status 1 on any problem."""
    args = build_parser().parse_args(argv)
    configure_logging(quiet=True)
    return run_main(PROG, lambda: verify(args.manifest_dir, args.splits))


def verify(manifest_dir: str, splits: Optional[Sequence[str]]) -> int:
    """Print the problems of every split; the exit status."""
    from avhubert_ami.data.manifest import load_split
    from avhubert_ami.data.verify import verify_manifest

    splits = splits or [s for s in SPLITS if os.path.isfile(os.path.join(manifest_dir, f"{s}.tsv"))]
    if not splits:
        raise UsageError(f"{manifest_dir}: no train/valid/test.tsv")
    bad = 0
    for split in splits:
        manifest, _ = load_split(manifest_dir, split)
        problems = verify_manifest(manifest)
        for line in problems:
            print(line)
        print(f"{split}: {len(manifest) - len(problems)} of {len(manifest)} rows agree with their files", flush=True)
        bad += len(problems)
    return EXIT_FAILED if bad else 0


if __name__ == "__main__":
    sys.exit(main())
