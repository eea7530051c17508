"""Generated inputs for the tests and the benchmarks (like ``numpy.testing``): tiny manifests and media, an AMI
corpus tree, long recordings, model configs. Nothing here downloads; the package itself never imports it.

* :mod:`~avhubert_ami.testing.media`: tones, moving-blob lips and waves, a moving face (scikit-image's astronaut).
* :mod:`~avhubert_ami.testing.tiny_data`: a complete tiny data folder (``make_tiny_split``).
* :mod:`~avhubert_ami.testing.recordings`: recordings with pauses, long lip clips, face videos.
* :mod:`~avhubert_ami.testing.ami_tree`: a tiny AMI corpus in the real layout (``make_ami_tree``).
* :mod:`~avhubert_ami.testing.models`: model configs (upstream sizes, tiny, the demo's) and a minimal task.

Optional dependencies (scikit-image, datasets) are imported inside the functions that need them.
"""
