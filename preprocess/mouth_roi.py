"""``python -m preprocess.mouth_roi``: the checkout's shim for :mod:`avhubert_ami.cli.mouth_roi`."""

import sys

from avhubert_ami.cli.mouth_roi import main

if __name__ == "__main__":
    sys.exit(main())
