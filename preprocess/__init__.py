"""Preprocessing command-line tools: ``python -m preprocess.NAME --help``."""

# The tools need only avhubert_ami's data IO: ask the package not to import fairseq (seconds of
# start-up per process; it still registers its fairseq components if fairseq is imported later).
AVHUBERT_AMI_WITHOUT_FAIRSEQ = True
