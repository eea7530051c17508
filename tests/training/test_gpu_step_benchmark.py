"""benchmarks/gpu_step.py: the batch packing matches fairseq's, and the tiny plan runs every configuration on CPU."""

import importlib.util
import json
import math

import numpy as np
from fairseq.data import data_utils

from tests.support import REPO


def _gpu_step():
    spec = importlib.util.spec_from_file_location("gpu_step", REPO / "benchmarks" / "gpu_step.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pack_matches_fairseq_batch_by_size():
    gs = _gpu_step()
    lengths = gs.utterance_lengths(n=500)
    frames = np.array([f for f, _ in lengths])
    order = np.lexsort([np.arange(len(frames)), frames])[::-1]  # the dataset's order, longest first
    ours = [[f for f, _ in b] for b in gs.pack(lengths, 4000)]
    theirs = [list(frames[b]) for b in data_utils.batch_by_size(order, lambda i: frames[i], max_tokens=4000)]
    assert ours == theirs


def test_tiny_plan_every_configuration_on_cpu(tmp_path):
    gs = _gpu_step()
    out = tmp_path / "rows.json"
    gs.main(["--plan", "tiny", "--device", "cpu", "--max_tokens", "40", "--steps_scale", "0", "--json", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert {(r["dtype"], r["attn"]) for r in rows} == {
        (d, a) for d in ("fp32", "fp16", "bf16") for a in ("sdpa", "eager")
    }
    for r in rows:
        assert "error" not in r, r
        assert r["loss_finite"] and math.isfinite(r["loss"]) and r["tokens_per_s"] > 0
