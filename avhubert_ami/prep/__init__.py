"""The preparation library: corpora -> AV-HuBERT manifests, 16 kHz audio, 25 fps 96x96 mouth-ROI videos and the
tokenizer, as typed functions that return a :class:`~avhubert_ami.prep.summary.Summary` and raise
:class:`~avhubert_ami.data.errors.PreparationError` (never ``SystemExit``).

``hf_dataset.prepare_hf_dataset``, ``tokenizer.train_tokenizer`` and ``mouth_roi.extract_mouth_roi`` /
``mouth_roi.crop_mouth_stream`` live here because the plugin itself uses them (the guide CLI converts a Hugging
Face dataset; the transcriber crops mouths); the command lines that wrap them, the raw-AMI recipe and the
synthetic corpus are in the top-level ``preprocess`` package, which imports this one and never the reverse.
Submodules are imported on use: importing the package loads nothing else.
"""
