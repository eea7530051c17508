"""The preprocessing CLIs start without fairseq/torch, and the plugin still registers with fairseq later."""

import os
import subprocess
import sys

import pytest

from tests.support import REPO
from tests.support.packaging import console_scripts

AFTER_PREPROCESS = """
import os, sys
os.environ["AVHUBERT_AMI_WITHOUT_FAIRSEQ"] = "1"  # as in a command line's process (or one of its workers)
import avhubert_ami.cli.mouth_roi, avhubert_ami.cli.ami_corpus, avhubert_ami.cli.hf_to_manifest
import avhubert_ami.cli.tokenizer, avhubert_ami.cli.synth_ami
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
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, cwd=REPO, env=env
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


def _imported(stderr: str) -> set:
    """Module names of ``python -X importtime``'s report."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if "|" in line}


@pytest.mark.parametrize("module", ["preprocess.tokenizer", "avhubert_ami.cli.tokenizer"])
def test_command_lines_start_without_fairseq(module):
    """``python -m preprocess.X`` (the checkout's shim) and ``python -m avhubert_ami.cli.X`` are command
    lines: fairseq and torch stay out."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    imported = _imported(out.stderr)
    assert "avhubert_ami" in imported
    assert "fairseq" not in imported and "torch" not in imported


# what pip writes for a console script (setup.py: avhubert-mouth-roi=avhubert_ami.cli.mouth_roi:main), here
# running a pool through the preprocessing worker loop instead of main()
CONSOLE_SCRIPT = """
import sys
from avhubert_ami.prep.runtime.workers import run_jobs
from tests.support.processes import fairseq_loaded
if __name__ == "__main__":
    done = run_jobs(fairseq_loaded, [("a", 0), ("b", 0)], num_workers=2, desc="probe")
    print("workers", sorted({result for _, result, _ in done}), "main", "fairseq" in sys.modules)
"""


def test_console_script_and_its_workers_start_without_fairseq(tmp_path):
    """An installed console script imports ``avhubert_ami`` before anything else: the package itself knows the
    preprocessing scripts' names, and their worker processes (a fork server) inherit the decision."""
    script = tmp_path / "avhubert-mouth-roi"
    script.write_text(CONSOLE_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("AVHUBERT_AMI_WITHOUT_FAIRSEQ", None)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "workers [False] main False" in out.stdout


def test_every_console_script_is_known_to_the_package():
    """setup.py's console scripts (all in ``avhubert_ami.cli``) are the names the package starts fairseq-free."""
    import avhubert_ami

    scripts = console_scripts()
    names = {name for name, target in scripts.items() if target.startswith("avhubert_ami.cli.")}
    assert names == set(scripts)
    assert names | {"finetune_avhubert_ami"} == avhubert_ami.COMMAND_LINE_SCRIPTS


def test_library_import_of_preprocess_keeps_eager_registration():
    """A process that imports preprocess as a library and then a plugin module that imports fairseq: the
    deferred registration fired inside models/checkpoint.py and failed on a circular import."""
    out = _run(
        "import preprocess.tokenizer, avhubert_ami.cli.mouth_roi; import avhubert_ami.cli.boundary; "
        "from fairseq.tasks import TASK_REGISTRY; print('ok', 'ami_av' in TASK_REGISTRY)"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ok True" in out.stdout


def test_worker_processes_of_a_command_line_start_without_fairseq():
    """A CLI exports its fairseq-free start to the processes it starts (fork server, local Dask workers): they
    import the recipe module whose function they run, without a command line of their own."""
    out = _run(
        "import os, subprocess, sys\n"
        "sys.argv[:1] = ['avhubert-hf-to-manifest']  # as in the console script's process\n"
        "import avhubert_ami\n"
        "worker = 'import avhubert_ami.prep.hf_dataset, sys; print(\"fairseq\" in sys.modules)'\n"
        "print(subprocess.run([sys.executable, '-c', worker], capture_output=True, text=True).stdout.strip())"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["False"]
