"""A non-editable install works outside the checkout (issue 15 §1): the wheel carries the presets and the
``avhubert-finetune`` entry point, and ``fairseq-hydra-train`` runs from the installed presets and user dir; the
preparation console scripts run from the package, and no top-level ``preprocess`` is installed.

Offline: the wheel is built from a copy of the working tree with this environment's setuptools (no build
isolation, no index), and the fresh virtual environment reaches torch/fairseq through a ``.pth`` line naming
this environment's site-packages (a plain path: the editable install's finder there is not activated), so
nothing is downloaded or reinstalled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

from tests.support import REPO
from tests.support.training import FAST, guide_args, tiny_data

pytestmark = pytest.mark.slow


def _env() -> Dict[str, str]:
    """No PYTHONPATH (it would put the checkout back on the path), one thread, unbuffered."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return dict(env, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _run(cmd: List[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=_env())
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}\nexit {p.returncode}\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def _working_tree_copy(dest: Path) -> Path:
    """The files git tracks or would track (uncommitted edits included), symlinks kept as links."""
    names = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, names):
        src, dst = REPO / name, dest / name
        if not os.path.lexists(src):  # deleted in the working tree
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif src.is_file():
            dst.write_bytes(src.read_bytes())
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Dict[str, Path]:
    """Wheel built from the working tree, installed into a fresh venv; returns its python, bin and package dir."""
    base = tmp_path_factory.mktemp("install")
    src = _working_tree_copy(base / "src")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            base / "dist",
            "./src",
        ],
        cwd=base,
    )
    wheel = next((base / "dist").glob("avhubert_ami-*.whl"))
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=base)
    python = venv / "bin" / "python"
    purelib = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base).stdout.strip()
    )
    (purelib / "zz_avhubert_ami_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--ignore-installed",
            "-q",
            wheel,
        ],
        cwd=base,
    )
    package = purelib / "avhubert_ami"
    found = _run([python, "-c", "import avhubert_ami; print(avhubert_ami.__file__)"], cwd=base).stdout.strip()
    assert Path(found).parent == package and src not in Path(found).parents
    return {"python": python, "bin": venv / "bin", "package": package, "work": base, "wheel": wheel}


def test_wheel_carries_presets_and_entry_point(installed):
    for preset in (
        "finetune/tiny_cpu.yaml",
        "finetune/base_ami.yaml",
        "finetune/large_ami.yaml",
        "lm/tiny.yaml",
        "lm/base.yaml",
    ):
        assert (installed["package"] / "conf" / preset).is_file(), preset
    p = _run([installed["bin"] / "avhubert-finetune", "--help"], cwd=installed["work"])
    assert p.stdout.startswith("usage: avhubert-finetune") and "--config_name" in p.stdout


def test_tiny_training_from_installed_package(installed, tmp_path):
    data = tiny_data(tmp_path / "data")
    out = tmp_path / "run"
    _run(
        [
            installed["bin"] / "avhubert-finetune",
            *guide_args(out, data, "--config_name", "tiny_cpu", "--max_steps", "2", "--evaluation_strategy", "no"),
            "--override",
            "lr_scheduler.decay_steps=3",
        ],
        cwd=tmp_path,
    )
    assert (out / "checkpoints" / "checkpoint_last.pt").is_file()
    log = (out / "hydra_train.log").read_text()
    # the run used the installed presets and plugin, not the checkout's
    assert str(installed["package"]) in log and str(REPO / "avhubert_ami") not in log


def test_fairseq_hydra_train_with_installed_presets(installed, tmp_path):
    data = tiny_data(tmp_path / "data")
    package = installed["package"]
    _run(
        [
            installed["python"],
            "-m",
            "fairseq_cli.hydra_train",
            "--config-dir",
            package / "conf" / "finetune",
            "--config-name",
            "tiny_cpu",
            f"common.user_dir={package}",
            f"task.data={data}",
            f"hydra.run.dir={tmp_path / 'run'}",
            *FAST,
        ],
        cwd=tmp_path,
    )
    assert (tmp_path / "run" / "checkpoints" / "checkpoint_last.pt").is_file()
    assert str(package) in (tmp_path / "run" / ".hydra" / "config.yaml").read_text()


def test_no_top_level_preprocess_is_installed(installed):
    """The checkout's ``preprocess/`` shims stay out of the wheel: a generic top-level name in site-packages."""
    tops = {name.split("/")[0] for name in zipfile.ZipFile(installed["wheel"]).namelist()}
    assert "preprocess" not in tops and "avhubert_ami" in tops
    p = _run(
        [installed["python"], "-c", "import importlib.util as u; print(u.find_spec('preprocess'))"], installed["work"]
    )
    assert p.stdout.strip() == "None"


@pytest.mark.parametrize("script", ["avhubert-mouth-roi", "avhubert-synth-ami", "avhubert-ami-corpus"])
def test_preparation_console_scripts_run_from_the_package(installed, script):
    """``--help`` names the console script (not the checkout's ``python -m preprocess.X``) and starts without
    fairseq or torch."""
    p = _run([installed["python"], "-X", "importtime", installed["bin"] / script, "--help"], installed["work"])
    assert p.stdout.startswith(f"usage: {script}"), p.stdout[:300]
    imported = {line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    assert "avhubert_ami.cli.boundary" in imported and not {"fairseq", "torch"} & imported


def test_synthetic_corpus_to_manifests_from_the_installed_package(installed, tmp_path):
    """The preparation chain of the demo, each step an installed console script, outside the checkout."""
    bin_, corpus, manifests = installed["bin"], tmp_path / "corpus", tmp_path / "manifests"
    counts = ["--n_train", "4", "--n_valid", "2", "--n_test", "2", "--workers", "1", "--quiet"]
    _run([bin_ / "avhubert-synth-ami", "--output_dir", corpus, *counts], tmp_path)
    _run([bin_ / "avhubert-hf-to-manifest", "--dataset_name", corpus, "--output_dir", manifests], tmp_path)
    _run([bin_ / "avhubert-tokenizer", "--manifest_dir", manifests, "--vocab_size", "30"], tmp_path)
    assert all((manifests / f"{split}.tsv").is_file() for split in ("train", "valid", "test"))
    assert (manifests / "spm.model").is_file() and (manifests / "dict.wrd.txt").is_file()
