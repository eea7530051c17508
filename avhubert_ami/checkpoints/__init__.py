"""Checkpoints: safe loading of official and fine-tuned files (:mod:`.safe_load`: the allowlist), what kind of
AV-HuBERT checkpoint a file is (:mod:`.inspect`), and the fairseq patches around checkpoint files -- atomic copies,
verified resume, finished runs, early-stopping patience, named load errors (:mod:`.fairseq_patches`)."""
