"""Write the synthetic AMI-like corpus: a thin command line over :func:`avhubert_ami.synth.ami.generate`.

    avhubert-synth-ami --output_dir DIR [--seed S] [--n_train N --n_valid N --n_test N]

(installed: ``avhubert-synth-ami``). The corpus's layout and settings: :mod:`avhubert_ami.synth.ami`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Optional, Sequence

from avhubert_ami.cli.boundary import command_parser, run_main
from avhubert_ami.synth.ami import SPLITS, SynthConfig, generate
from avhubert_ami.synth.grammar import TEXT_MODES
from avhubert_ami.synth.noise import NOISE_TYPES

PROG = "avhubert-synth-ami"

#: SynthConfig's whole-number fields: flags of the same name and default (with their help, where one is needed)
_INT_FLAGS = {
    "seed": None,
    "n_train": None,
    "n_valid": None,
    "n_test": None,
    "n_speakers": None,
    "heldout_speakers": "speakers reserved for each of validation and test (0: all splits share all speakers)",
    "min_words": None,
    "max_words": None,
    "n_noise_files": None,
    "workers": None,
}


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``avhubert-synth-ami``: :class:`SynthConfig`'s fields with its defaults."""
    d = SynthConfig()
    p = command_parser(
        "synth_ami", "Generate a synthetic AMI-like audio-visual corpus (Hugging Face dataset saved at --output_dir)."
    )
    p.add_argument("--output_dir", required=True, help="dataset folder (load_from_disk(DIR)); media under DIR/media")
    for name, help in _INT_FLAGS.items():
        p.add_argument(f"--{name}", type=int, default=getattr(d, name), help=help)
    p.add_argument(
        "--text_mode",
        choices=TEXT_MODES,
        default=d.text_mode,
        help="grammar: meeting phrases with word order (default); words: independent words (old mode)",
    )
    p.add_argument("--snr", type=float, default=None, help="corrupt the audio with noise at this SNR (dB)")
    p.add_argument("--noise_type", choices=NOISE_TYPES, default=d.noise_type)
    p.add_argument(
        "--noise_splits", nargs="+", choices=SPLITS, default=list(d.noise_splits), help="splits that --snr corrupts"
    )
    p.add_argument(
        "--write_noise",
        action="store_true",
        help="also write noise wavs + DIR/noise/{train,valid,test}.tsv (for the task's noise_wav)",
    )
    p.add_argument("--splits", nargs="+", choices=SPLITS, default=list(d.splits), help="splits to generate")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point (``avhubert-synth-ami``); exit status 2 for inconsistent settings."""
    args = build_parser().parse_args(argv)
    fields = {f.name for f in dataclasses.fields(SynthConfig)}
    kw = {k: v for k, v in vars(args).items() if k in fields}
    kw["noise_splits"], kw["splits"] = tuple(kw["noise_splits"]), tuple(kw["splits"])
    cfg = SynthConfig(**kw)

    def work() -> int:
        cfg.validate()
        dsd = generate(cfg, args.output_dir, progress=not args.quiet)
        sizes = ", ".join(f"{k}={len(v)}" for k, v in dsd.items())
        print(f"{PROG}: wrote {sizes} to {args.output_dir}")
        return 0

    return run_main(PROG, work)


if __name__ == "__main__":
    sys.exit(main())
