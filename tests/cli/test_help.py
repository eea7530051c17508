"""``--help`` of every console script: at once (neither fairseq nor torch imported), with the defaults, a text for
every flag; a mistyped flag is answered with the right one."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys

import pytest

import avhubert_ami

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: the console scripts (the package's own list, which tests/cli/test_fairseq_free_start.py pins to setup.py)
SCRIPTS = sorted(s for s in avhubert_ami.COMMAND_LINE_SCRIPTS if s.startswith("avhubert-"))


def cli_module(script: str) -> str:
    """``avhubert-train-lm`` -> ``avhubert_ami.cli.train_lm``."""
    return "avhubert_ami.cli." + script[len("avhubert-") :].replace("-", "_")


_HELP = """
import sys
sys.argv[0] = {script!r}  # what a console script's process sees: the package starts without fairseq
import importlib
module = importlib.import_module({module!r})
try:
    code = module.main(["--help"])
except SystemExit as e:
    code = e.code
print("RESULT", code, "fairseq" in sys.modules, "torch" in sys.modules)
"""


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_answers_without_fairseq_or_torch_and_shows_defaults(script):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("AVHUBERT_AMI_WITHOUT_FAIRSEQ", None)
    code = _HELP.format(script=os.path.join("/usr/bin", script), module=cli_module(script))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "RESULT 0 False False" in out.stdout, out.stdout[-2000:]
    assert "usage:" in out.stdout
    if script == "avhubert-finetune":  # every flag defaults to the preset's value, which the help says
        assert "a flag left out keeps the preset's value" in " ".join(out.stdout.split())
    else:
        assert "(default:" in out.stdout


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def _parser_of(script: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser the command's ``main`` builds, caught when it parses."""

    def catch(self, args=None, namespace=None):
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(_Parsed) as caught:
        importlib.import_module(cli_module(script)).main([])
    return caught.value.parser


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_flag_has_help_text(script, monkeypatch):
    parser = _parser_of(script, monkeypatch)
    silent = [
        "/".join(a.option_strings or [a.dest])
        for a in parser._actions
        if a.help is not argparse.SUPPRESS and not (a.help or "").strip()
    ]
    assert not silent, f"{script}: flags without help: {silent}"


@pytest.mark.parametrize(
    "module, argv, hint",
    [
        ("avhubert_ami.cli.finetune", ["--output_dir", "o", "--do_eval", "--lm-weight", "0.2"], "--lm_weight"),
        (
            "avhubert_ami.cli.train_lm",
            ["--manifest_dir", "m", "--output_dir", "o", "--max-update", "5"],
            "--max_update",
        ),
        ("avhubert_ami.cli.synth_ami", ["--output_dir", "o", "--num-wrokers", "2"], "--num_workers"),
    ],
)
def test_a_mistyped_flag_is_answered_with_the_right_one(module, argv, hint, capsys):
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert f"did you mean {hint}" in err, err
