"""Every command of the users' guide (docs/finetune_guide.md) runs against this project.

The commands are parsed from the guide itself, not copied, so a guide edit is tested too. They run as
written with real paths: ``data/ami/dataset`` is a small HF dataset (columns ``audio``, ``lip_video``,
``transcript``) made in the working directory, ``/path/to/pretrained/model`` is an official-style
pretraining checkpoint, and ``--max_steps 3`` is appended to bound CPU time.
"""

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.support import REPO
from tests.support.preparation import make_hf_dataset
from tests.support.processes import quiet_env
from tests.support.training import fake_pretrain_checkpoint

GUIDE = REPO / "docs" / "finetune_guide.md"


def guide_commands():
    """The ``python finetune_avhubert_ami.py ...`` commands of the guide's bash blocks, as argv lists."""
    text = GUIDE.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for cmd in block.replace("\\\n", " ").splitlines():
            if cmd.strip().startswith("python finetune_avhubert_ami.py"):
                commands.append(shlex.split(cmd))
    return commands


def test_guide_has_the_expected_commands():
    cmds = guide_commands()
    assert len(cmds) == 6
    assert all(c[:2] == ["python", "finetune_avhubert_ami.py"] for c in cmds)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("guide")
    hf = make_hf_dataset(str(work / "src"), video_form="path", bad_rows=False)
    (work / "data" / "ami").mkdir(parents=True)
    os.symlink(hf, work / "data" / "ami" / "dataset")
    ckpt = fake_pretrain_checkpoint(work / "base_vox_iter5.pt")
    return work, ckpt


@pytest.mark.slow
@pytest.mark.parametrize("index", range(6))
def test_guide_command_runs(workdir, index):
    work, ckpt = workdir
    argv = guide_commands()[index]
    argv = (
        [sys.executable, str(REPO / "finetune_avhubert_ami.py")]
        + [str(ckpt) if a == "/path/to/pretrained/model" else a for a in argv[2:]]
        + ["--max_steps", "3"]
    )
    p = subprocess.run(argv, cwd=work, capture_output=True, text=True, env=quiet_env(), timeout=900)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    out = work / argv[argv.index("--output_dir") + 1]
    assert (out / "checkpoints" / "checkpoint_last.pt").is_file()
    results = json.loads((out / "eval_results.json").read_text())  # every guide command has --do_eval
    text = json.dumps(results)
    assert "wer" in text.lower() and "cer" in text.lower()
