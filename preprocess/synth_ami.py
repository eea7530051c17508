"""``python -m preprocess.synth_ami``: the checkout's shim for :mod:`avhubert_ami.cli.synth_ami`."""

import sys

from avhubert_ami.cli.synth_ami import main

if __name__ == "__main__":
    sys.exit(main())
