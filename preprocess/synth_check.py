"""``python -m preprocess.synth_check``: the checkout's shim for :mod:`avhubert_ami.cli.synth_check`."""

import sys

from avhubert_ami.cli.synth_check import main

if __name__ == "__main__":
    sys.exit(main())
