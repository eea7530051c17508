"""Tiny data + tiny trained checkpoint shared by the training / decoding / CLI tests.

``tiny_data(folder)`` writes train/valid/test splits (test has an audio-only and a video-only row);
``hydra_train_cmd`` builds the README's fairseq-hydra-train command line for the tiny_cpu preset;
``trained_checkpoint(tmp_path_factory)`` trains once per test session (memoised) and returns the run dir.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from avhubert_ami.testing.tiny_data import make_tiny_split

REPO = Path(__file__).resolve().parents[1]
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

#: The decoding search of the README's commands as the tests run it on the tiny model, for fairseq-generate
#: (:func:`generate_args`) and ``avhubert_ami.decoding.split`` alike. Batch size 1 on both sides: the relative
#: positional convolution sees padded frames, so an untrained model's hypotheses may depend on which utterances share a
#: batch (as upstream's), not on the decoding path.
README_SEARCH = dict(beam=5, batch_size=1, max_len_a=1.0, max_len_b=10)

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


def quiet_env() -> Dict[str, str]:
    """Environment for child processes: one intra-op thread (tiny models on a shared 2-core box run ~5x
    faster without OpenMP threads spinning against other processes), unbuffered output."""
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


@pytest.fixture
def single_thread():
    """In-process counterpart of :func:`quiet_env` for one test."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def run(cmd: List[str], timeout: float = 240, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run ``cmd``; on failure raise with its output (so a test failure shows fairseq's error)."""
    env = quiet_env()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO, env=env)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}\nexit {p.returncode}\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}")
    return p


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


def with_ctc_head(checkpoint: Path, out: Path) -> Path:
    """The trained tiny checkpoint plus a (seeded, untrained) CTC head, as a hybrid model would have."""
    import torch

    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state

    state = load_checkpoint_state(str(checkpoint))
    state["cfg"]["model"]["ctc_head"] = True
    dim, vocab = state["cfg"]["model"]["encoder_embed_dim"], state["model"]["decoder.embed_tokens.weight"].shape[0]
    g = torch.Generator().manual_seed(0)
    state["model"]["ctc_proj.weight"] = torch.randn(vocab, dim, generator=g) * 0.1
    state["model"]["ctc_proj.bias"] = torch.zeros(vocab)
    torch.save(state, out)
    return out


def without_ctc_head(checkpoint: Path, out: Path) -> Path:
    """The trained tiny checkpoint as an attention-only model (no ctc_proj, model.ctc_head false)."""
    import torch

    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state

    state = load_checkpoint_state(str(checkpoint))
    state["cfg"]["model"]["ctc_head"] = False
    state["model"] = {k: v for k, v in state["model"].items() if not k.startswith("ctc_proj.")}
    torch.save(state, out)
    return out


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


def _flags(options: Dict[str, object], dash: str) -> List[str]:
    return [f for name, value in options.items() for f in (f"--{name.replace('_', dash)}", str(value))]


def generate_args(data, checkpoint, *flags: str, **search) -> List[str]:
    """fairseq-generate's arguments: ``checkpoint`` on the test split of ``data`` with the plugin's task, on CPU;
    ``search`` options by their Python names (``max_len_b=10``: ``--max-len-b 10``), then ``flags``."""
    plugin = ["--user-dir", str(USER_DIR), "--task", "ami_av", "--gen-subset", "test", "--cpu"]
    return [str(data), *plugin, "--path", str(checkpoint), *_flags(search, "-"), *flags]


def decode_args(checkpoint, data, *flags: str, **options) -> List[str]:
    """``avhubert-decode`` arguments: ``checkpoint`` on ``data`` on CPU; ``options`` by their flag names
    (``max_len_b=3``: ``--max_len_b 3``), then ``flags``."""
    return ["--path", str(checkpoint), "--data", str(data), "--cpu", *_flags(options, "_"), *flags]


def random_lm(folder: Path, dict_path: Path, seed: int = 0) -> Path:
    """An untrained fairseq ``transformer_lm`` (1 layer, 16-d, weights N(0, 0.5): far from uniform scores) on the
    dictionary ``dict_path``, laid out as avhubert-train-lm leaves an LM: ``folder/checkpoint_best.pt`` with
    ``folder/data-bin/dict.txt`` (also the data folder its task config records). Made in a second, no training."""
    import torch
    from fairseq import tasks
    from fairseq.data import Dictionary
    from omegaconf import OmegaConf

    import avhubert_ami

    avhubert_ami.load_plugin()
    folder = Path(folder)
    (folder / "data-bin").mkdir(parents=True, exist_ok=True)
    Dictionary.load(str(dict_path)).save(str(folder / "data-bin" / "dict.txt"))
    dims = dict(decoder_embed_dim=16, decoder_input_dim=16, decoder_output_dim=16, decoder_ffn_embed_dim=32)
    cfg = OmegaConf.create(
        {
            "task": {"_name": "ami_av_lm", "data": str(folder / "data-bin"), "sample_break_mode": "eos"},
            "model": {
                "_name": "transformer_lm",
                "decoder_layers": 1,
                "decoder_attention_heads": 2,
                "share_decoder_input_output_embed": True,
                "max_target_positions": 256,
                **dims,
            },
        }
    )
    torch.manual_seed(seed)
    model = tasks.setup_task(cfg.task).build_model(cfg.model)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    history = {"criterion_name": "CrossEntropyCriterion", "optimizer_name": "Adam", "lr_scheduler_state": {}}
    state = {
        "args": None,
        "cfg": OmegaConf.to_container(cfg),
        "model": model.state_dict(),
        "optimizer_history": [{**history, "num_updates": 0}],
        "extra_state": {},
        "task_state": {},
    }
    torch.save(state, folder / "checkpoint_best.pt")
    return folder / "checkpoint_best.pt"


def reordered_lm(src: Path, folder: Path, seed: int = 1, extra: int = 0, drop: int = 0) -> Path:
    """The language model ``src`` (a :func:`random_lm` layout) on a dictionary whose non-special symbols are shuffled
    -- the same model: each embedding row moves with its symbol -- plus ``extra`` new symbols at the end, minus the
    last ``drop`` shuffled ones; laid out like ``src`` in ``folder``."""
    import torch
    from fairseq.data import Dictionary

    state = torch.load(src, map_location="cpu", weights_only=False)
    d = Dictionary.load(str(Path(src).parent / "data-bin" / "dict.txt"))
    g = torch.Generator().manual_seed(seed)
    order = list(range(d.nspecial)) + (torch.randperm(len(d) - d.nspecial, generator=g) + d.nspecial).tolist()
    order = order[: len(order) - drop]
    folder = Path(folder)
    (folder / "data-bin").mkdir(parents=True, exist_ok=True)
    lines = [f"{d.symbols[i]} {d.count[i]}\n" for i in order[d.nspecial :]] + [f"zz_extra{j} 1\n" for j in range(extra)]
    (folder / "data-bin" / "dict.txt").write_text("".join(lines), encoding="utf-8")
    for key in ("decoder.embed_tokens.weight", "decoder.output_projection.weight"):
        rows = state["model"][key][order]
        state["model"][key] = torch.cat([rows, torch.randn(extra, rows.shape[1], generator=g) * 0.5])
    state["cfg"]["task"]["data"] = str(folder / "data-bin")
    torch.save(state, folder / "checkpoint_best.pt")
    return folder / "checkpoint_best.pt"


_HOLD_LOCK = """
import sys, time
from avhubert_ami.prep.runtime.locking import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def lock_held_by_another_process(folder) -> Iterator[int]:
    """Another process holds ``folder``'s output lock (as a running training or preparation would) for the block;
    yields its pid."""
    env = dict(quiet_env(), AVHUBERT_AMI_WITHOUT_FAIRSEQ="1", PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "held"
        yield p.pid
    finally:
        p.kill()
        p.wait()
