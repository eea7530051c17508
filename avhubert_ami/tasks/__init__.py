"""Fairseq tasks of the plugin (imported for their registration side effect)."""

from avhubert_ami.tasks import ami_av  # noqa: F401  registers "ami_av" and "av_hubert_pretraining"
