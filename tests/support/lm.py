"""The tiny language model: avhubert-train-lm on the tiny trained model's corpus, trained once per test session."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict

from tests.support.processes import run
from tests.support.training import trained_checkpoint

_LM: Dict[str, Path] = {}


def tiny_lm(tmp_path_factory) -> Path:
    """avhubert-train-lm on the tiny corpus (once per session); checks the re-run resumes instead of redoing."""
    if "lm" not in _LM:
        from avhubert_ami.cli import train_lm as lm

        run_dir = trained_checkpoint(tmp_path_factory)
        out = tmp_path_factory.mktemp("lm") / "lm"
        argv = [
            "--manifest_dir",
            str(run_dir.parent / "data"),
            "--output_dir",
            str(out),
            "--max_update",
            "20",
            "dataset.validate_interval_updates=10",
            "common.log_interval=5",
        ]
        run([sys.executable, "-m", "avhubert_ami.cli.train_lm", *argv])
        assert (out / "checkpoint_best.pt").is_file() and (out / "data-bin" / "train.bin").is_file()
        assert (out / "text" / "train.pieces").read_text().count("\n") == 6  # training transcripts, not test
        mtime = (out / "checkpoint_best.pt").stat().st_mtime_ns
        assert lm.main(argv) == 0  # re-run: both steps up to date, nothing retrained
        assert (out / "checkpoint_best.pt").stat().st_mtime_ns == mtime
        _LM["lm"] = out / "checkpoint_best.pt"
    return _LM["lm"]


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
