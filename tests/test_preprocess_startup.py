"""The preprocessing CLIs start without fairseq/torch, and the plugin still registers with fairseq later."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

AFTER_PREPROCESS = """
import sys
import preprocess
preprocess.AVHUBERT_AMI_WITHOUT_FAIRSEQ = True  # as in a command-line process (python -m preprocess.X)
import preprocess.mouth_roi, preprocess.ami_corpus, preprocess.hf_to_manifest
import preprocess.tokenizer, preprocess.synth_ami
print("light", "fairseq" in sys.modules, "torch" in sys.modules)
import avhubert_ami
from fairseq import options
from fairseq.models import ARCH_MODEL_REGISTRY
from fairseq.tasks import TASK_REGISTRY
print("registered", "ami_av" in TASK_REGISTRY, "av_hubert_seq2seq" in ARCH_MODEL_REGISTRY,
      avhubert_ami.models.AVHubertSeq2Seq.__name__)
parser = options.get_training_parser()  # fairseq's --user-dir path finds the package already imported
args = options.parse_args_and_arch(parser, sys.argv[1:])
print("parsed", args.task, args.arch)
"""


def _run(code, *argv):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )


def test_preprocessing_imports_skip_fairseq_and_the_plugin_registers_when_fairseq_comes():
    out = _run(
        AFTER_PREPROCESS,
        "/tmp/data",
        "--user-dir",
        os.path.join(REPO, "avhubert_ami"),
        "--task",
        "ami_av",
        "--arch",
        "av_hubert_seq2seq",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "light False False" in out.stdout
    assert "registered True True AVHubertSeq2Seq" in out.stdout
    assert "parsed ami_av av_hubert_seq2seq" in out.stdout


def test_plain_import_still_registers_at_once():
    out = _run(
        "import sys, avhubert_ami; from fairseq.tasks import TASK_REGISTRY; "
        "print('fairseq' in sys.modules, 'ami_av' in TASK_REGISTRY)"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "True True" in out.stdout


def test_command_lines_start_without_fairseq():
    """``python -m preprocess.X`` marks its process as a command line: fairseq and torch stay out."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "preprocess.tokenizer", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "avhubert_ami" in imported  # (the tokenizer itself runs as __main__, not imported)
    assert "fairseq" not in imported and "torch" not in imported


def test_library_import_of_preprocess_keeps_eager_registration():
    """A process that imports preprocess as a library and then a plugin module that imports fairseq: the
    deferred registration fired inside models/checkpoint.py and failed on a circular import."""
    out = _run(
        "import preprocess.tokenizer, preprocess.mouth_roi; import avhubert_ami.cli_errors; "
        "from fairseq.tasks import TASK_REGISTRY; print('ok', 'ami_av' in TASK_REGISTRY)"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ok True" in out.stdout


def test_worker_processes_of_a_command_line_start_without_fairseq():
    """A CLI exports its fairseq-free start to the processes it starts (fork server, local Dask workers): they
    import ``preprocess`` first and then the recipe module whose function they run."""
    out = _run(
        "import os, subprocess, sys\n"
        "sys.argv[:1] = ['-m']  # as while `python -m preprocess.X` locates the package\n"
        "import preprocess\n"
        "worker = 'import preprocess, avhubert_ami.prep.hf_dataset, sys; print(\"fairseq\" in sys.modules)'\n"
        "print(subprocess.run([sys.executable, '-c', worker], capture_output=True, text=True).stdout.strip())"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["False"]
