"""``python -m preprocess.synth_ami``: write the synthetic AMI-like corpus (see :mod:`avhubert_ami.synth.ami`)."""

import sys

from avhubert_ami.synth.ami import SynthConfig, build_parser, generate, main  # noqa: F401  (the CLI's public names)

if __name__ == "__main__":
    sys.exit(main())
