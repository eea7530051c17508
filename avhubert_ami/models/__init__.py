"""Fairseq models of the plugin (imported for their registration side effect).

The safe-loading allowlist of :mod:`avhubert_ami.checkpoints.safe_load` is installed by
:func:`avhubert_ami.compat.install`. The optimizer the models train with (``adam_fused``,
:mod:`avhubert_ami.optim`) registers here too, with the models.
"""

from avhubert_ami import optim  # noqa: F401  (registers adam_fused)
from avhubert_ami.models import encoder, seq2seq  # noqa: F401
from avhubert_ami.models.encoder import AVHubertConfig, AVHubertModel  # noqa: F401
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig  # noqa: F401
