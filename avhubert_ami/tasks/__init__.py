"""Fairseq tasks of the plugin (imported for their registration side effect)."""
