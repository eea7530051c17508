"""Fairseq criteria of the plugin (imported for their registration side effect)."""

from avhubert_ami.criterions import hybrid_ctc  # noqa: F401
