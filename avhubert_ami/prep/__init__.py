"""The preparation library: corpora -> AV-HuBERT manifests, 16 kHz audio, 25 fps 96x96 mouth-ROI videos and the
tokenizer, as typed functions that return a :class:`~avhubert_ami.prep.runtime.summary.Summary` and raise
:class:`~avhubert_ami.errors.PreparationError` (never ``SystemExit``).

``hf_dataset.prepare_hf_dataset``, ``tokenizer.train_tokenizer`` and ``mouth_roi.extract_mouth_roi`` /
``mouth_roi.crop_mouth_stream`` live here because the plugin itself uses them (the guide CLI converts a Hugging
Face dataset; the transcriber crops mouths); ``ami.prepare_ami`` (the raw-AMI recipe) beside them. The command
lines that wrap them are in :mod:`avhubert_ami.cli`, which imports this package and never the reverse; the
synthetic corpus is :mod:`avhubert_ami.synth`.
Submodules are imported on use: importing the package loads nothing else.
"""
