"""How separable the synthetic words are: a thin command line over :func:`avhubert_ami.synth.check.run_check`.

avhubert-synth-check [--seed S] [--tokens K] [--snrs 10 5 0 -5]
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from avhubert_ami.cli.boundary import command_parser
from avhubert_ami.synth import check
from avhubert_ami.synth.ami import SynthConfig
from avhubert_ami.synth.lexicon import WORDS

PROG = "avhubert-synth-check"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``avhubert-synth-check``: print the word accuracies."""
    p = command_parser(PROG, check.__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0, help="random seed of the synthetic voices and tokens")
    p.add_argument("--tokens", type=int, default=3, help="tokens per word and speaker")
    p.add_argument(
        "--n_speakers", type=int, default=SynthConfig.n_speakers, help="synthetic speakers (one left out at a time)"
    )
    p.add_argument(
        "--snrs",
        type=float,
        nargs="*",
        default=[10.0, 5.0, 0.0, -5.0],
        help="babble SNRs (dB) the accuracy is measured at",
    )
    args = p.parse_args(argv)
    res = check.run_check(SynthConfig(seed=args.seed, n_speakers=args.n_speakers), args.tokens, args.snrs)
    print(f"nearest-centroid word accuracy, leave-one-speaker-out ({len(WORDS)} words, chance {res['chance']:.1%}):")
    for k, v in res.items():
        if k != "chance":
            print(f"  {k:<14s} {v:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
