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
    return subprocess.run(
        [sys.executable, "-c", PARSE, *argv], capture_output=True, text=True, timeout=300, cwd="/"
    )


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
