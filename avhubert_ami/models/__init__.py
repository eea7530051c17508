"""Fairseq models of the plugin (imported for their registration side effect)."""
