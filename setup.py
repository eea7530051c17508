"""Packaging for avhubert-ami (``pip install -e .`` in a checkout; ``pip install .`` or a wheel elsewhere)."""

from setuptools import find_packages, setup

CONSOLE_SCRIPTS = [
    "avhubert-finetune=avhubert_ami.cli.finetune:console_main",
    "avhubert-hf-to-manifest=avhubert_ami.cli.hf_to_manifest:main",
    "avhubert-ami-corpus=avhubert_ami.cli.ami_corpus:main",
    "avhubert-mouth-roi=avhubert_ami.cli.mouth_roi:main",
    "avhubert-tokenizer=avhubert_ami.cli.tokenizer:main",
    "avhubert-synth-ami=avhubert_ami.cli.synth_ami:main",
    "avhubert-synth-check=avhubert_ami.cli.synth_check:main",
    "avhubert-verify-manifest=avhubert_ami.cli.verify_manifest:main",
    "avhubert-decode=avhubert_ami.cli.decode:main",
    "avhubert-train-lm=avhubert_ami.cli.train_lm:main",
    "avhubert-transcribe=avhubert_ami.cli.transcribe:main",
    "avhubert-transcribe-meeting=avhubert_ami.cli.transcribe_meeting:main",
]

setup(
    name="avhubert-ami",
    version="0.1.0",
    description="fairseq plugin: fine-tune AV-HuBERT for audio-visual speech recognition on AMI",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.8",
    # avhubert_ami alone: the checkout's top-level `preprocess` (shims for `python -m preprocess.X`) is not
    # installed, a generic name that would collide in site-packages; installed, the console scripts run them
    packages=find_packages(include=["avhubert_ami", "avhubert_ami.*"]),
    # the hydra presets travel inside the package (the repository's `conf` links here): avhubert_ami/training/presets.py
    package_data={"avhubert_ami": ["conf/finetune/*.yaml", "conf/lm/*.yaml"]},
    install_requires=[
        # 0.12.2 cannot be imported on Python >= 3.11; fairseq-fixed keeps the `fairseq` name and CLIs.
        'fairseq-fixed==0.12.3.1; python_version >= "3.11"',
        'fairseq==0.12.2; python_version < "3.11"',
        # A range, never a pin that drags a CUDA build onto a CPU box: install torch first.
        "torch>=2.1",
        "numpy",
        "sentencepiece",
        "python_speech_features",
        "editdistance",
        "av",  # PyAV replaces scikit-video, whose vread crashes on numpy >= 1.24
        "soundfile",
        "scipy",
        "tqdm",
        "datasets",
        "tensorboardX",
        "matplotlib",
        # the `whisper` scoring normaliser (Open ASR Leaderboard): Whisper's EnglishTextNormalizer, no torch
        "whisper-normalizer>=0.1.12",
        # avhubert-transcribe's voice-activity detector: WebRTC's VAD, a C extension with its model compiled in
        # (~250 kB installed, no torch, no dependencies): a base dependency, so the transcriber works after a plain
        # `pip install avhubert-ami`; face videos still need the [roi] extra
        "webrtcvad-wheels>=2.0.14",
    ],
    extras_require={
        # mouth-ROI detection for raw videos (avhubert-mouth-roi, avhubert-ami-corpus): the face-mesh
        # models ship inside this mediapipe release (1.x ships none); it brings opencv-contrib too.
        "roi": ['mediapipe==0.10.14; python_version < "3.13"'],
        # avhubert-transcribe on face videos: mouth crops on the fly need the face landmarks of [roi] (the VAD is a
        # base dependency; the extra is kept so that `pip install 'avhubert-ami[transcribe]'` still works)
        "transcribe": ['mediapipe==0.10.14; python_version < "3.13"'],
        # upstream's own landmark recipe (avhubert-mouth-roi --backend dlib): dlib's 68-point
        # predictor and face detectors ship in face-recognition-models.
        "dlib": ["dlib-bin>=19.24", "face-recognition-models==0.3.0"],
        # raw AMI corpus (avhubert-ami-corpus): lhotse's AMI recipe parses the NXT annotations.
        # lhotse 1.33 imports urllib3 without declaring it.
        "ami": ["lhotse>=1.33,<2", "urllib3", 'mediapipe==0.10.14; python_version < "3.13"'],
        # --engine dask: the per-utterance preparation jobs on a Dask distributed cluster (pure Python, ~4 MB of
        # wheels; Ray, the alternative, is an 80 MB binary wheel: docs/architecture.md, "Many machines")
        "cluster": ["dask[distributed]>=2024.1"],
        # avhubert-transcribe-meeting's scores (avhubert_ami/meeting/scoring.py): cpWER/tcpWER by meeteval (built
        # from its sdist: needs a C++ compiler; simplejson lets meeteval-wer read SegLST files), DER by
        # pyannote.metrics (pure Python; meeteval's DER runs md-eval-22.pl, which it downloads on first use)
        "meeting": ["meeteval>=0.4.3", "simplejson", "pyannote.metrics>=3.2"],
        # synthetic meetings in AMI's layout (avhubert-synth-ami --meetings): room impulse responses for the room
        # channel; face-mode close-ups draw on scikit-image's astronaut photo
        "synth": ["pyroomacoustics>=0.7", "scikit-image"],
        # tests: a real face photo bundled in scikit-image drives the mouth-ROI tests offline.
        # ruff pinned: another release may format differently and fail `make lint` on unchanged code
        "dev": [
            "pytest",
            "ruff==0.16.9",
            "scikit-image",
            "lhotse>=1.33,<2",
            "urllib3",
            'mediapipe==0.10.14; python_version < "3.13"',
            "dlib-bin>=19.24",
            "face-recognition-models==0.3.0",
            "dask[distributed]>=2024.1",
            "meeteval>=0.4.3",
            "simplejson",
            "pyannote.metrics>=3.2",
            "pyroomacoustics>=0.7",
        ],
    },
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
)
