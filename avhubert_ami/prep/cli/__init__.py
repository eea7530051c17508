"""The preparation command lines, thin wrappers of the typed recipes: ``hf_to_manifest``, ``ami_corpus``,
``mouth_roi``, ``tokenizer``, ``synth_ami``, ``synth_check`` (each a ``main(argv)``; installed as the ``avhubert-*``
console scripts, in a checkout also ``python -m preprocess.NAME``). ``run``: their names, parsers, error boundary
and summary; ``args``: the flag groups they share. Nothing outside this package imports it."""
