"""Preprocessing command-line tools: ``python -m preprocess.NAME --help``."""

import os
import sys

#: console scripts of setup.py whose module is a preprocessing command line
_CONSOLE_SCRIPTS = {
    "avhubert-hf-to-manifest",
    "avhubert-ami-corpus",
    "avhubert-mouth-roi",
    "avhubert-tokenizer",
    "avhubert-synth-ami",
}

# A preprocessing command line needs only avhubert_ami's data IO and preparation library: it asks the
# package not to import fairseq (seconds of start-up per process; the plugin still registers its fairseq
# components if fairseq is imported later). Only for a command-line process (``python -m preprocess.X``:
# argv[0] is "-m" while the package is located; or one of the console scripts): a library or test process
# that imports ``preprocess`` keeps the plugin's eager registration, where a first fairseq import inside
# one of the plugin's own modules cannot start a registration in the middle of that module.
AVHUBERT_AMI_WITHOUT_FAIRSEQ = (
    sys.argv[:1] == ["-m"]
    or os.path.basename(sys.argv[0] if sys.argv else "") in _CONSOLE_SCRIPTS
    or os.environ.get("AVHUBERT_AMI_WITHOUT_FAIRSEQ") == "1"
)
if AVHUBERT_AMI_WITHOUT_FAIRSEQ:
    # A command line's worker processes (the process pool's fork server, a local Dask cluster's workers) import
    # this package first with its environment: they skip fairseq too (~8 s and a torch import each). Workers of
    # `dask worker` elsewhere: this variable set and `--preload preprocess`.
    os.environ["AVHUBERT_AMI_WITHOUT_FAIRSEQ"] = "1"
