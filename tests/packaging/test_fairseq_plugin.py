"""The package imports and fairseq finds it as a --user-dir plugin (in a fresh interpreter)."""

import os
import subprocess
import sys

import avhubert_ami

PKG_DIR = os.path.dirname(os.path.abspath(avhubert_ami.__file__))

PARSE = """
import sys
from fairseq import options
parser = options.get_training_parser()
args = options.parse_args_and_arch(parser, sys.argv[1:])
print("task", args.task, "arch", args.arch, "modalities", args.modalities)
"""


def _parse(*argv):
    return subprocess.run([sys.executable, "-c", PARSE, *argv], capture_output=True, text=True, timeout=300, cwd="/")


def test_fairseq_parses_our_task_and_model_through_user_dir():
    out = _parse("/tmp/data", "--user-dir", PKG_DIR, "--task", "ami_av", "--arch", "av_hubert_seq2seq")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "task ami_av arch av_hubert_seq2seq modalities" in out.stdout


def test_without_user_dir_fairseq_does_not_know_the_task():
    out = _parse("/tmp/data", "--task", "ami_av", "--arch", "av_hubert_seq2seq")
    assert out.returncode != 0
    assert "ami_av" in out.stderr


def test_bad_user_dir_fails():
    out = _parse("/tmp/data", "--user-dir", PKG_DIR + "_nope", "--task", "ami_av")
    assert out.returncode != 0


def test_import_installs_every_fairseq_shim_once():
    """avhubert_ami.compat.install is the one place that changes fairseq: all shims are in after the import,
    and a second install wraps nothing twice."""
    import torch
    from fairseq import checkpoint_utils, tasks
    from fairseq.data.dictionary import Dictionary

    from avhubert_ami import compat

    setup_task, load = tasks.setup_task, checkpoint_utils.load_checkpoint_to_cpu
    assert getattr(setup_task, "_avhubert_ami", False) and getattr(load, "_avhubert_ami_patched", False)
    assert Dictionary in torch.serialization.get_safe_globals()
    compat.install()
    assert tasks.setup_task is setup_task and checkpoint_utils.load_checkpoint_to_cpu is load


def test_scorers_are_module_level_fairseq_declarations():
    """Declared like fairseq's own scorers (module-level dataclass + class), not built inside a function."""
    from dataclasses import fields, is_dataclass

    from fairseq.scoring import SCORER_REGISTRY

    from avhubert_ami.scoring import scorers

    assert SCORER_REGISTRY["cer"] is scorers.CerScorer and SCORER_REGISTRY["ami_wer"] is scorers.AmiWerScorer
    assert is_dataclass(scorers.CerScorerConfig)
    types = {f.name: f.type for f in fields(scorers.CerScorerConfig) if f.name != "_name"}
    assert types == {"cer_keep_case_punct": bool, "cer_normalizer": str}  # real annotations, for fairseq's argparse


def test_scoring_functions_need_no_fairseq():
    """In a fairseq-free process (what a preprocessing command line sets up), scoring stays fairseq-free."""
    code = (
        "import sys; import avhubert_ami.scoring.wer as s; "
        "print(s.error_rate(['a b'], ['a c']), 'fairseq' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=os.path.dirname(PKG_DIR),
        env=dict(os.environ, AVHUBERT_AMI_WITHOUT_FAIRSEQ="1"),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["50.0", "False"]


def test_av_constants_have_one_home():
    """Task defaults, dataset defaults and media IO read the same constants."""
    from avhubert_ami.data import audio, constants, dataset, video
    from avhubert_ami.tasks import ami_av

    task, data = ami_av.AMIAVConfig(), dataset.DataOptions()
    assert (task.image_crop_size, task.image_mean, task.image_std) == (
        constants.CROP_SIZE,
        constants.IMAGE_MEAN,
        constants.IMAGE_STD,
    )
    assert (data.image_crop_size, data.image_mean, data.image_std) == (88, 0.421, 0.165)
    assert video.FPS == 25.0 and video.ROI_SIZE == 96 and audio.SAMPLE_RATE == 16000
    assert constants.SAMPLES_PER_FRAME == 640 and ami_av.AVHubertPretrainingConfig().sample_rate == 16000


def test_the_plugin_never_imports_its_test_helpers():
    """avhubert_ami.testing (generated inputs, dev dependencies) stays out of a plugin import with fairseq loaded."""
    code = "import sys, fairseq, avhubert_ami; print([m for m in sys.modules if m.startswith('avhubert_ami.testing')])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=os.path.dirname(PKG_DIR)
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["[]"]


def test_demo_model_config_is_the_tiny_cpu_preset():
    """The benchmarks' demo-size model is read from the preset, so the two cannot drift apart."""
    from avhubert_ami.models.seq2seq import AVHubertSeq2SeqConfig
    from avhubert_ami.testing.models import demo_model_config

    cfg = AVHubertSeq2SeqConfig(**demo_model_config())
    assert (cfg.encoder_layers, cfg.encoder_embed_dim, cfg.decoder_layers, cfg.ctc_head) == (2, 128, 1, True)
