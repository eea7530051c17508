"""The synthetic AMI-like corpus: formant-synthesised speech and time-aligned mouth videos of meeting phrases.

``ami`` (the generator, :func:`avhubert_ami.synth.ami.generate`; CLI ``avhubert-synth-ami``),
``lexicon`` (words -> phones -> visemes), ``grammar`` (meeting phrases), ``speakers`` (voices, faces, timing),
``audio`` (the formant synthesiser), ``video`` (the mouth renderer), ``noise`` (babble / white noise),
``check`` (a separability check of the rendered words; CLI ``avhubert-synth-check``).
"""
