"""Train a Transformer language model for shallow fusion with the recogniser.

    avhubert-train-lm --manifest_dir M --output_dir LMDIR [--extra_text FILE ...] [--preset tiny|base]
        [--max_update N] [--lowercase] [--wait] [hydra overrides key=value ...]

The LM learns the recogniser's own sentencepiece units (``M/spm.model``, ``M/dict.wrd.txt``) from ``M/train.wrd``
and any ``--extra_text`` (one sentence a line; never the test transcripts), validating on ``M/valid.wrd``;
``LMDIR/checkpoint_best.pt`` is the model to fuse (``avhubert-decode --lm_path LMDIR/checkpoint_best.pt
--lm_weight W``, or fairseq-generate's ``--lm-path ... --lm-weight W``). A re-run resumes: finished steps are
skipped, training continues from ``checkpoint_last.pt``; one run at a time writes to LMDIR (``--wait`` queues behind
the run that holds it). The presets validate every few hundred updates (``dataset.validate_interval_updates``) and
stop when the validation loss has not improved for ``checkpoint.patience`` validations; ``checkpoint_best.pt`` is
the lowest validation loss. The steps: :mod:`avhubert_ami.lm.train`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from avhubert_ami.cli.boundary import command_parser, configure_logging, run_main
from avhubert_ami.lm.train import PRESETS
from avhubert_ami.prep.flags import add_wait_arg

PROG = "avhubert-train-lm"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``avhubert-train-lm``."""
    p = command_parser(PROG, __doc__)
    p.add_argument(
        "--manifest_dir",
        required=True,
        help="the recogniser's manifest dir (train.wrd, valid.wrd, spm.model, dict.wrd.txt)",
    )
    p.add_argument("--output_dir", required=True, help="LM folder: data-bin/, checkpoint_best.pt, checkpoint_last.pt")
    p.add_argument(
        "--extra_text",
        nargs="*",
        default=[],
        metavar="FILE",
        help="more training text, one sentence a line (never the test transcripts)",
    )
    p.add_argument("--preset", choices=PRESETS, default="tiny", help="conf/lm/{preset}.yaml (tiny: CPU; base: GPU)")
    p.add_argument("--max_update", type=int, default=None, help="override the preset's optimization.max_update")
    p.add_argument(
        "--lowercase",
        action="store_true",
        help="lower-case text before sentencepiece (as the recogniser's task.label_lowercase)",
    )
    add_wait_arg(p)
    p.add_argument(
        "overrides",
        nargs="*",
        help="hydra overrides for fairseq, e.g. optimization.lr=[0.001] checkpoint.patience=10 "
        "(quote a value with a comma or space: 'task.data=\"/my data\"')",
    )
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``avhubert-train-lm``."""
    args = build_parser().parse_args(argv)
    configure_logging()
    overrides = list(args.overrides)
    if args.max_update is not None:
        overrides.append(f"optimization.max_update={args.max_update}")

    def work() -> int:
        import avhubert_ami
        from avhubert_ami.lm.train import train_lm

        avhubert_ami.load_plugin()
        best = train_lm(
            args.manifest_dir, args.output_dir, args.extra_text, args.preset, overrides, args.lowercase, args.wait
        )
        print(
            f"language model: {best}\n  use: avhubert-decode ... --lm_path {best} --lm_weight 0.2   or   "
            f"fairseq-generate ... --lm-path {best} --lm-weight 0.2"
        )
        return 0

    return run_main(PROG, work)


if __name__ == "__main__":
    sys.exit(main())
