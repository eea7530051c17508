"""Upstream AV-HuBERT's own model code, built the way ``benchmarks/gpu_step.py`` builds ours (benchmarks only).

``load_upstream(DIR)`` imports ``hubert.py``, ``hubert_asr.py``, ``decoder.py`` and ``resnet.py`` from a checkout of
https://github.com/facebookresearch/av_hubert that the user fetched (``DIR`` is the clone, or its ``avhubert``
folder). Nothing of it is committed here and the plugin never imports it; ``DIR`` goes on ``sys.path`` only inside
this benchmark's process, and only while its modules import.

Upstream was written for fairseq commit afc77bd (2021). Against fairseq-fixed 0.12.3.1 three things need help, all
done here, none in upstream's files:

1. Registration. Upstream registers ``av_hubert``, ``av_hubert_seq2seq``, ``av_hubert_ctc`` and the task
   ``av_hubert_pretraining``, names this plugin already holds: fairseq would hand upstream's module our classes
   (``register_model`` returns the class registered first) or refuse the task. Its modules import with fairseq's
   ``register_model``/``register_task`` replaced by no-ops, and are loaded under the package name
   ``avhubert_upstream`` (its ``__init__`` is not run: that imports the data pipeline).
2. ``TransformerEncoder`` of fairseq 0.12 reads ``layer_type``, ``required_seq_len_multiple`` and
   ``checkpoint_activations``, which upstream's ``AVHubertConfig`` lacks: they are set to fairseq's defaults
   (``transformer``, 1, False), which is what upstream's fairseq did.
3. fairseq 0.12's ``TransformerDecoderLayer`` sizes the cross-attention keys/values from ``encoder_embed_dim``
   (default 512), which upstream's seq2seq config lacks (the old fairseq fell back to the decoder's width): it is set
   to ``decoder_embed_dim``, so the layer gets the shapes upstream's checkpoints have.

Modules upstream imports only for data loading (``python_speech_features``, ``cv2``, ``scipy``) get empty
stand-ins where they are not installed.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import types
from types import SimpleNamespace
from typing import Any, Dict, Iterator

from avhubert_ami.models.seq2seq import _ENCODER_OVERRIDES  # the plugin's own table, as upstream applies it

PACKAGE = "avhubert_upstream"
#: the files the benchmark needs from upstream's ``avhubert/`` folder
NEEDED = ("hubert.py", "hubert_asr.py", "decoder.py", "resnet.py", "hubert_pretraining.py", "utils.py")
#: imported by upstream's data modules at import time only
_DATA_ONLY = ("python_speech_features", "cv2", "scipy", "scipy.io", "scipy.io.wavfile", "skvideo", "skvideo.io")


class NotAnUpstreamCheckout(ValueError):
    """``--upstream DIR`` is not a checkout of facebookresearch/av_hubert."""


def upstream_folder(path: str) -> str:
    """The ``avhubert`` folder of an upstream checkout at ``path`` (the clone itself or that folder)."""
    for folder in (os.path.join(path, "avhubert"), path):
        if all(os.path.isfile(os.path.join(folder, name)) for name in NEEDED):
            return os.path.abspath(folder)
    missing = [n for n in NEEDED if not os.path.isfile(os.path.join(path, "avhubert", n))]
    raise NotAnUpstreamCheckout(
        f"--upstream {path}: not an upstream AV-HuBERT checkout (no avhubert/{missing[0]} there); clone "
        "https://github.com/facebookresearch/av_hubert and pass the clone's folder"
    )


@contextlib.contextmanager
def _isolated_import(folder: str) -> Iterator[None]:
    """While upstream's modules import: no fairseq registration, stand-ins for data-only packages, relative imports
    (upstream switches to absolute ones when ``sys.argv`` has one entry), ``folder`` importable as ``PACKAGE``."""
    import fairseq.models
    import fairseq.tasks

    def no_registration(*args, **kwargs):
        return lambda cls: cls

    saved = {
        "argv": sys.argv,
        "register_model": fairseq.models.register_model,
        "register_task": fairseq.tasks.register_task,
    }
    stand_ins = [name for name in _DATA_ONLY if name not in sys.modules and _missing(name)]
    package = types.ModuleType(PACKAGE)
    package.__path__ = [folder]
    sys.modules[PACKAGE] = package
    for name in stand_ins:
        sys.modules[name] = _stand_in(name)
    sys.argv = [sys.argv[0] if sys.argv else "gpu_step", "--upstream"]
    fairseq.models.register_model = no_registration
    fairseq.tasks.register_task = no_registration
    try:
        yield
    finally:
        sys.argv = saved["argv"]
        fairseq.models.register_model = saved["register_model"]
        fairseq.tasks.register_task = saved["register_task"]
        for name in stand_ins:
            sys.modules.pop(name, None)


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def _stand_in(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = []  # a package, so that "from scipy.io import wavfile" finds the next stand-in

    def missing(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)

        def call(*args, **kwargs):
            raise RuntimeError(f"{name}.{attr}: not installed (stand-in of benchmarks/upstream_avhubert.py)")

        return call

    module.__getattr__ = missing
    return module


def load_upstream(path: str) -> Dict[str, types.ModuleType]:
    """Upstream's ``hubert``, ``hubert_asr``, ``decoder`` and ``resnet`` modules from the checkout at ``path``."""
    folder = upstream_folder(path)
    if PACKAGE in sys.modules and getattr(sys.modules[PACKAGE], "__path__", None) == [folder]:
        return {n: sys.modules[f"{PACKAGE}.{n}"] for n in ("hubert", "hubert_asr", "decoder", "resnet")}
    with _isolated_import(folder):
        mods = {n: importlib.import_module(f"{PACKAGE}.{n}") for n in ("hubert", "hubert_asr", "decoder", "resnet")}
    return mods


def build_upstream_seq2seq(path: str, encoder: Dict[str, Any], decoder: Dict[str, Any], model: Dict[str, Any], tgt):
    """A randomly initialised upstream ``AVHubertSeq2Seq``: ``encoder`` holds the pretraining architecture fields
    (``encoder_layers``, ``encoder_embed_dim``, ...), ``decoder`` the decoder's, ``model`` a fine-tuning preset's
    model section (dropouts, layerdrop, ...), ``tgt`` the target dictionary."""
    up = load_upstream(path)
    hubert, asr, dec = up["hubert"], up["hubert_asr"], up["decoder"]
    enc_fields = {k: v for k, v in encoder.items() if k in hubert.AVHubertConfig.__dataclass_fields__}
    enc_cfg = hubert.AVHubertConfig(label_rate=25, input_modality="image", **enc_fields)
    for ours, theirs in _ENCODER_OVERRIDES.items():
        if ours in model:
            setattr(enc_cfg, theirs, model[ours])
    # fields fairseq 0.12's TransformerEncoder reads that upstream's config (for fairseq afc77bd) lacks
    enc_cfg.layer_type, enc_cfg.required_seq_len_multiple, enc_cfg.checkpoint_activations = "transformer", 1, False
    w2v = hubert.AVHubertModel(enc_cfg, SimpleNamespace(sample_rate=25), [None])
    w2v.remove_pretraining_modules()
    s2s_fields = {**decoder, **model}
    s2s_fields = {k: v for k, v in s2s_fields.items() if k in asr.AVHubertSeq2SeqConfig.__dataclass_fields__}
    s2s_fields.pop("w2v_path", None)
    s2s_cfg = asr.AVHubertSeq2SeqConfig(w2v_path="", normalize=True, data="", **s2s_fields)
    s2s_cfg.encoder_embed_dim = s2s_cfg.decoder_embed_dim  # fairseq 0.12 sizes cross-attention k/v from it
    embed = asr.Embedding(len(tgt), s2s_cfg.decoder_embed_dim, tgt.pad())
    return asr.AVHubertSeq2Seq(asr.HubertEncoderWrapper(w2v), dec.TransformerDecoder(s2s_cfg, tgt, embed), tgt, s2s_cfg)
