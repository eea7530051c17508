"""Fairseq models of the plugin (imported for their registration side effect).

Importing this package also allowlists the plain-data classes pickled in official AV-HuBERT
checkpoints for torch's safe loader (see :mod:`avhubert_ami.models.checkpoint`).
"""

from avhubert_ami.models import checkpoint  # noqa: F401
from avhubert_ami.models.checkpoint import register_safe_globals

register_safe_globals()

from avhubert_ami.models import encoder, seq2seq  # noqa: F401,E402
from avhubert_ami.models.encoder import AVHubertConfig, AVHubertModel  # noqa: F401,E402
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig  # noqa: F401,E402
