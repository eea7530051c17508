"""Every command line of the project: one module per console script, each a ``main(argv) -> exit status`` that
parses its flags, then runs its work through the one error boundary (:mod:`.boundary`): a user error prints
``PROG: error: ...`` and exits 2, a failure of the work prints one line and exits 1.

``finetune`` (``avhubert-finetune``, ``finetune_avhubert_ami.py``), ``decode`` (``avhubert-decode``), ``train_lm``
(``avhubert-train-lm``), ``transcribe`` (``avhubert-transcribe``), the preparation commands ``hf_to_manifest``,
``ami_corpus``, ``mouth_roi``, ``tokenizer``, ``synth_ami``, ``synth_check`` (``avhubert-*``; in a checkout also
``python -m preprocess.NAME``) and ``verify_manifest``. They import nothing heavy before their flags are parsed, so
``--help`` answers at once; the library they drive never imports them.
"""
