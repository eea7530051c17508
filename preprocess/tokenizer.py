"""``python -m preprocess.tokenizer``: the checkout's shim for :mod:`avhubert_ami.cli.tokenizer`."""

import sys

from avhubert_ami.cli.tokenizer import main

if __name__ == "__main__":
    sys.exit(main())
