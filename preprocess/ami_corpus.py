"""``python -m preprocess.ami_corpus``: the checkout's shim for :mod:`avhubert_ami.cli.ami_corpus`."""

import sys

from avhubert_ami.cli.ami_corpus import main

if __name__ == "__main__":
    sys.exit(main())
