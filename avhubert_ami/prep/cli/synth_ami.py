"""``python -m preprocess.synth_ami``: write the synthetic AMI-like corpus (see :mod:`preprocess.synth.ami`)."""

import sys

from preprocess.synth.ami import SynthConfig, build_parser, generate, main  # noqa: F401  (the CLI's public names)

if __name__ == "__main__":
    sys.exit(main())
