"""Output folders whose path has a non-ASCII letter, a comma, ``=``, a quote, a space, ``$`` or a backslash: the guide
CLI and avhubert-train-lm hand every path to hydra quoted (its override lexer stopped at them, and the error pointed
to a log that was never written), and fairseq-preprocess gets no comma to split at."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from avhubert_ami.training import run
from avhubert_ami.training.flags import hydra_str, parse_args
from tests.support import REPO
from tests.support.processes import quiet_env
from tests.support.training import guide_cmd, tiny_data

#: a folder name with everything hydra's lexer or omegaconf's interpolation would otherwise take for syntax
AWKWARD = "rün, a=b 'q\" $x ${y} back\\slash\\"
#: the same without ``${`` (which hydra reads as an interpolation in its own run folder, whatever the quoting)
RUNNABLE = AWKWARD.replace("${y} ", "")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("paths_data"))


def _values(cmd):
    """``{key: value}`` of the hydra overrides of a trainer command, parsed and resolved as hydra and fairseq do."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    overrides = cmd[cmd.index("--config-name") + 2 :]
    parsed = OverridesParser.create().parse_overrides(overrides)
    return {o.key_or_group: OmegaConf.create({"v": o.value()}).v for o in parsed}


@pytest.mark.parametrize("text", [AWKWARD, "/plain/path-1.pt", "end'", "\\${", "a,b", "it's", "x=y"])
def test_hydra_str_round_trips_through_hydra_and_omegaconf(text):
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    value = OverridesParser.create().parse_override(f"k={hydra_str(text)}").value()
    assert OmegaConf.create({"v": value}).v == text


def test_guide_commands_carry_any_output_folder(tmp_path, data):
    out = tmp_path / RUNNABLE
    for world in (None, "2"):
        extra = ["--cpu_ddp_world_size", world] if world else []
        args = parse_args(["--output_dir", str(out), "--dataset_name", str(data), "--do_train", *extra])
        cmds = run.train_commands(run.prepare(args))
        values = _values(cmds[0])
        assert values["hydra.run.dir"] == str(out)
        assert values["checkpoint.save_dir"] == str(out / "checkpoints")
        assert values["common.tensorboard_logdir"] == str(out / "tensorboard")
        if world:
            assert _values(cmds[1])["hydra.run.dir"] == str(out / "rank1")


def test_lm_command_carries_any_output_folder(tmp_path):
    from avhubert_ami.lm.train import train_command

    out = tmp_path / AWKWARD
    values = _values(train_command("tiny", out / "data-bin", out, ["optimization.max_update=3"]))
    assert values["checkpoint.save_dir"] == str(out)
    assert values["task.data"] == str(out / "data-bin")
    assert values["hydra.run.dir"] == str(out / "hydra")
    assert values["optimization.max_update"] == 3


def test_lm_text_binarises_into_a_folder_with_a_comma(tmp_path, data):
    from avhubert_ami.lm.train import binarize, prepare_text

    out = tmp_path / AWKWARD
    train, valid = prepare_text(str(data), out / "text")
    binarize(train, valid, str(data / "dict.wrd.txt"), out / "data-bin")
    assert {"train.bin", "train.idx", "valid.bin", "valid.idx"} <= set(os.listdir(out / "data-bin"))


def test_a_run_folder_hydra_cannot_use_is_refused_in_one_line(tmp_path, data, cli_error):
    from avhubert_ami.cli import finetune, train_lm

    out = tmp_path / "a${b}"
    rc, line = cli_error(finetune.main, ["--output_dir", str(out), "--dataset_name", str(data), "--do_train"])
    assert rc == 2 and f"--output_dir {out}: hydra cannot run in a folder whose path contains '${{'" in line
    rc, line = cli_error(train_lm.main, ["--manifest_dir", str(data), "--output_dir", str(out)])
    assert rc == 2 and "rename the folder" in line
    assert not out.exists()


@pytest.mark.slow
def test_guide_and_lm_train_into_an_awkward_folder(tmp_path, data):
    out = tmp_path / RUNNABLE
    p = subprocess.run(
        guide_cmd(out / "run", data, "--max_steps", "1", "--override", "lr_scheduler.decay_steps=3"),
        cwd=REPO,
        env=quiet_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert (out / "run" / "checkpoints" / "checkpoint_last.pt").is_file()
    assert (out / "run" / "hydra_train.log").is_file()
    lm = [sys.executable, "-m", "avhubert_ami.cli.train_lm", "--manifest_dir", str(data), "--output_dir"]
    lm += [str(out / "lm"), "--max_update", "1"]
    p = subprocess.run(lm, cwd=REPO, env=quiet_env(), capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert Path(out / "lm" / "checkpoint_best.pt").is_file()
