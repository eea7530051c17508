"""fairseq optimizers of the plugin (imported for their registration side effect)."""

from avhubert_ami.optim import fused_adam  # noqa: F401
