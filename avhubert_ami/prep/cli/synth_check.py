"""``python -m preprocess.synth_check``: how separable the synthetic words are (see :mod:`preprocess.synth.check`)."""

import sys

from preprocess.synth.check import main, run_check  # noqa: F401  (the CLI's public names)

if __name__ == "__main__":
    sys.exit(main())
