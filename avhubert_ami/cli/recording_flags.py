"""Flags of the commands that transcribe recordings (``avhubert-transcribe``, ``avhubert-transcribe-meeting``)
beyond the search's: where the dictionary is, and which face-landmark detector makes mouth crops on the fly."""

from __future__ import annotations

import argparse

from avhubert_ami.prep.landmarks import BACKENDS  # numpy only: the detectors load when used


def add_recording_flags(p: argparse.ArgumentParser) -> None:
    """``--data`` (a manifest folder with ``dict.wrd.txt`` for checkpoints without one) and ``--backend``."""
    p.add_argument("--data", default=None, help="manifest folder holding dict.wrd.txt, for checkpoints without it")
    p.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="face landmark detector for mouth crops made on the fly (avhubert_ami.prep.landmarks)",
    )
