"""``python -m preprocess.hf_to_manifest``: the checkout's shim for :mod:`avhubert_ami.cli.hf_to_manifest`."""

import sys

from avhubert_ami.cli.hf_to_manifest import main

if __name__ == "__main__":
    sys.exit(main())
