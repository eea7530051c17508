"""``python -m preprocess.synth_check``: how separable the synthetic words are (see :mod:`avhubert_ami.synth.check`)."""

import sys

from avhubert_ami.synth.check import main, run_check  # noqa: F401  (the CLI's public names)

if __name__ == "__main__":
    sys.exit(main())
