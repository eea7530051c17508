"""The tiny language model: avhubert-train-lm on the tiny trained model's corpus, trained once per test session."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict

from tests.support.processes import run
from tests.support.training import trained_checkpoint

_LM: Dict[str, Path] = {}


def tiny_lm(tmp_path_factory) -> Path:
    """avhubert-train-lm on the tiny corpus (once per session); checks the re-run resumes instead of redoing."""
    if "lm" not in _LM:
        from avhubert_ami.cli import train_lm as lm

        run_dir = trained_checkpoint(tmp_path_factory)
        out = tmp_path_factory.mktemp("lm") / "lm"
        argv = [
            "--manifest_dir",
            str(run_dir.parent / "data"),
            "--output_dir",
            str(out),
            "--max_update",
            "20",
            "dataset.validate_interval_updates=10",
            "common.log_interval=5",
        ]
        run([sys.executable, "-m", "avhubert_ami.cli.train_lm", *argv])
        assert (out / "checkpoint_best.pt").is_file() and (out / "data-bin" / "train.bin").is_file()
        assert (out / "text" / "train.pieces").read_text().count("\n") == 6  # training transcripts, not test
        mtime = (out / "checkpoint_best.pt").stat().st_mtime_ns
        assert lm.main(argv) == 0  # re-run: both steps up to date, nothing retrained
        assert (out / "checkpoint_best.pt").stat().st_mtime_ns == mtime
        _LM["lm"] = out / "checkpoint_best.pt"
    return _LM["lm"]
