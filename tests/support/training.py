"""Tiny data and the tiny trained model shared by the training, decoding, LM, transcription and CLI tests.

``tiny_data(folder)`` writes train/valid/test splits (test has an audio-only and a video-only row);
``hydra_train_cmd`` builds the README's fairseq-hydra-train command line for the tiny_cpu preset;
``trained_checkpoint(tmp_path_factory)`` trains once per test session (memoised here: pytest imports this module
once, whichever test folder asks) and returns the run dir; ``guide_args``/``guide_cmd``/``guide_overrides`` are the
users'-guide CLI's side (``avhubert_ami.training``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from avhubert_ami.testing.tiny_data import make_tiny_split
from tests.support import REPO
from tests.support.processes import run

CONF = REPO / "conf" / "finetune"
USER_DIR = REPO / "avhubert_ami"

#: Overrides that keep a tiny_cpu run to a few seconds on 2 cores.
FAST = [
    "optimization.max_update=4",
    "lr_scheduler.warmup_steps=1",
    "lr_scheduler.decay_steps=3",
    "dataset.batch_size=3",
    "common.log_interval=1",
]

#: Users'-guide flags that keep a tiny_cpu run to a few seconds (the guide's counterpart of :data:`FAST`).
GUIDE_FAST = ["--per_device_train_batch_size", "3", "--per_device_eval_batch_size", "2"]
GUIDE_FAST += ["--warmup_steps", "1", "--logging_steps", "1"]

#: Users'-guide flags for a 1-beam validation decode (fast on the tiny model).
ONE_BEAM = ["--generation_num_beams", "1"]

_CACHE: Dict[str, Path] = {}


def tiny_data(folder: Path, n_train: int = 6) -> Path:
    """Train (``n_train`` rows), valid (2) and test (3 rows: AV, video-only, audio-only) splits + spm/dict."""
    folder = Path(folder)
    if not (folder / "test.tsv").is_file():
        make_tiny_split(str(folder), n=n_train, split="train", seed=0, frames=(20, 24, 28))
        make_tiny_split(str(folder), n=2, split="valid", seed=1, frames=(20, 24))
        make_tiny_split(str(folder), n=3, split="test", seed=2, frames=(20, 24, 28), missing={1: "audio", 2: "video"})
    return folder


def hydra_train_cmd(
    data: Path, run_dir: Path, extra: Optional[List[str]] = None, preset: str = "tiny_cpu"
) -> List[str]:
    """``fairseq-hydra-train --config-dir conf/finetune --config-name PRESET ...`` (as a python -m call)."""
    return [
        sys.executable,
        "-m",
        "fairseq_cli.hydra_train",
        "--config-dir",
        str(CONF),
        "--config-name",
        preset,
        f"common.user_dir={USER_DIR}",
        f"task.data={data}",
        f"hydra.run.dir={run_dir}",
        *FAST,
        *(extra or []),
    ]


def trained_checkpoint(tmp_path_factory) -> Path:
    """Run dir of a tiny_cpu model trained once per session (``checkpoints/checkpoint_last.pt`` inside)."""
    if "run" not in _CACHE:
        base = tmp_path_factory.mktemp("tiny_trained")
        data = tiny_data(base / "data")
        run_dir = base / "run"
        run(hydra_train_cmd(data, run_dir))
        _CACHE["run"] = run_dir
    return _CACHE["run"]


def fake_pretrain_checkpoint(path: Path) -> Path:
    """A tiny official-style pretraining checkpoint (``cfg.model._name == "av_hubert"``, 64-d encoder)."""
    import torch
    from omegaconf import OmegaConf

    from avhubert_ami.models.encoder import AVHubertConfig, AVHubertModel
    from avhubert_ami.testing.models import TINY_ENCODER, fake_task, make_dictionary

    torch.manual_seed(0)
    model = AVHubertModel.build_model(AVHubertConfig(**TINY_ENCODER), fake_task(n_labels=50))
    cfg = OmegaConf.create(
        {
            "common": {"fp16": True},
            "task": {
                "_name": "av_hubert_pretraining",
                "data": "/absent",
                "labels": ["km"],
                "normalize": True,
                "modalities": ["audio", "video"],
            },
            "model": {"_name": "av_hubert", **TINY_ENCODER},
        }
    )
    torch.save(
        {
            "args": None,
            "cfg": cfg,
            "model": model.state_dict(),
            "criterion": None,
            "optimizer_history": [{"num_updates": 1000}],
            "task_state": {"dictionaries": [make_dictionary(50)]},
            "extra_state": {},
        },
        path,
    )
    return path


def guide_args(out, data, *flags: str) -> List[str]:
    """Users'-guide arguments: train on ``data`` into ``out`` with :data:`GUIDE_FAST`, then ``flags``."""
    return ["--output_dir", str(out), "--dataset_name", str(data), "--do_train", *GUIDE_FAST, *flags]


def guide_cmd(out, data, *flags: str) -> List[str]:
    """:func:`guide_args` as a command line of the users' guide's entry point, ``finetune_avhubert_ami.py``."""
    return [sys.executable, str(REPO / "finetune_avhubert_ami.py"), *guide_args(out, data, *flags)]


def num_updates(checkpoint) -> int:
    """How many updates the run that wrote ``checkpoint`` had made."""
    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state

    return load_checkpoint_state(str(checkpoint))["optimizer_history"][-1]["num_updates"]


def guide_context(**fields):
    """The ``RunContext`` the driver would resolve: output ``/out``, data ``/data``, then ``fields``."""
    from avhubert_ami.training.flags import RunContext

    return RunContext(**{"output_dir": Path("/out"), "data_dir": Path("/data"), **fields})


def guide_overrides(argv: Sequence[str], cuda: bool = False, **context) -> List[str]:
    """The hydra overrides the users'-guide flag table makes of ``argv`` (parsed, checked for the device, mapped
    with :func:`guide_context`); no training."""
    from avhubert_ami.training.flags import overrides_for, parse_args, validate

    a = parse_args(list(argv))
    validate(a, cuda=cuda)
    return overrides_for(a, guide_context(cuda=cuda, **context))


def override_dict(overrides: Sequence[str]) -> Dict[str, str]:
    """``{key: value}`` of hydra overrides, their ``++`` dropped."""
    return dict(o.removeprefix("++").split("=", 1) for o in overrides)
