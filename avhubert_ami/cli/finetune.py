"""``avhubert-finetune`` / ``finetune_avhubert_ami.py``: the users' guide command line (HF Trainer-style flags).

Validates the flags, locks ``--output_dir`` (one run at a time), resolves data and checkpoint, then trains
(``fairseq-hydra-train`` child processes) and/or evaluates (WER/CER per modality): :mod:`avhubert_ami.training.run`.
The flag table: :mod:`avhubert_ami.training.flags`.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from avhubert_ami.cli.boundary import configure_logging, run_main
from avhubert_ami.training.flags import parse_args

#: the checkout's script (the users' guide runs it); installed, the console script is ``avhubert-finetune``
PROG = "finetune_avhubert_ami.py"


def main(argv: Optional[Sequence[str]] = None, prog: str = PROG) -> int:
    """Entry point; returns the exit status (``prog`` names the command in usage and error lines)."""
    args = parse_args(argv, prog=prog)
    configure_logging()

    def work() -> int:
        import avhubert_ami
        from avhubert_ami.training import run

        avhubert_ami.load_plugin()
        with run.session(args) as plan:  # the output folder is locked until training and evaluation are done
            if args.do_train:
                run.train(plan)
            if args.do_eval:
                run.evaluate(plan)
        return 0

    return run_main(prog, work)


def console_main() -> int:
    """``avhubert-finetune`` (the console script of an installed package): :func:`main` under that name."""
    return main(prog="avhubert-finetune")


if __name__ == "__main__":
    sys.exit(main())
