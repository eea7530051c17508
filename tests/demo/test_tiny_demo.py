"""The whole demo on a tiny corpus (``scripts/run_demo.py --size tiny``): every artefact exists, the results are
rendered from results.json, and a folder of another configuration is refused."""

import json
import os
import subprocess
import sys

import pytest

from scripts import demo_config, demo_meetings, demo_report, render_results
from tests.support.processes import quiet_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_demo(*args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "run_demo.py"), *args],
        cwd=REPO,
        env=dict(quiet_env(), PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.mark.slow
def test_tiny_demo_end_to_end(tmp_path):
    out = tmp_path / "demo_out"
    proc = _run_demo("--size", "tiny", "--meetings", "1", "--out_dir", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [(s.condition, s.label, y.name) for y in demo_config.SYSTEMS for s in demo_config.SETTINGS]
    res = json.loads((out / "results.json").read_text())
    assert [(r["condition"], r["modalities"], r["system"]) for r in res["results"]] == rows
    assert res["chance"]["system"] == demo_report.CHANCE_SYSTEM
    for r in res["results"]:
        assert r["n_utterances"] == 4 and r["wer"] >= 0 and r["cer"] >= 0 and r["normalizer"] == "basic"
        decoded = json.loads((out / r["decode_dir"] / "results.json").read_text())  # avhubert-decode's own file
        assert decoded["wer"] == r["wer"] and decoded["ctc_weight"] == r["ctc_weight"]
        assert len((out / r["decode_dir"] / "hypo.txt").read_text().splitlines()) == 4
    # results.md and the RESULTS.md section come from results.json alone
    assert (out / "results.md").read_text() == demo_report.results_markdown(res)
    assert res["command"].endswith(f"--size tiny --meetings 1 --out_dir {out}") and res["machine"]["cores"] >= 1
    assert res["config"]["n_train"] == 16 and set(res["timings_s"]) >= {"synth_clean", "train", "lm", "decode"}
    res.update(_path="docs/measurements/demo/x.json")
    assert "| chance (most frequent word) |" in "\n".join(render_results.demo_section(res))
    # weights: chosen on valid from the grid (the weight grid's own record), applied to the joint and LM rows
    weights = json.loads((out / "weights.json").read_text())
    assert weights == res["weights"] and weights["applies_to"]["video-only"] == "audio+video"
    tuned = weights["by_modalities"]["audio+video"]
    assert tuned["tuned_on"] == "valid" and tuned["normalizer"] == "basic" and tuned["beam"] == 2
    assert [(g["ctc_weight"], g["lm_weight"]) for g in tuned["grid"]] == [(0, 0), (0.3, 0), (0, 0.2), (0.3, 0.2)]
    assert tuned["joint"]["lm_weight"] == 0.0 and tuned["chosen"]["wer"] == min(g["wer"] for g in tuned["grid"])
    joint_row, lm_row = demo_config.SYSTEMS[1].name, demo_config.SYSTEMS[2].name
    for r in res["results"]:
        if r["system"] == joint_row:
            assert (r["ctc_weight"], r["lm_weight"]) == (tuned["joint"]["ctc_weight"], 0.0)
        if r["system"] == lm_row:
            assert (r["ctc_weight"], r["lm_weight"]) == (tuned["chosen"]["ctc_weight"], tuned["chosen"]["lm_weight"])
    assert (out / "lm" / "checkpoint_best.pt").is_file()
    assert len((out / "lm" / "extra_text.txt").read_text().splitlines()) == 40
    assert (out / "valid_wer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert demo_report.validation_curve(str(out / "train" / "hydra_train.log"))
    for d in ("manifest", "manifest_noisy"):
        for name in ("test.tsv", "test.wrd", "spm.model", "dict.wrd.txt"):
            assert (out / d / name).is_file(), (d, name)
    assert "checkpoint_last.pt" in os.listdir(out / "train" / "checkpoints")
    logs = {step: (out / "logs" / f"{step}.log").read_text() for step in ("synth_clean", "train", "lm", "decode")}
    assert "num_updates" in logs["train"] and "checkpoint_best.pt" in logs["lm"]  # the trainers' own output
    assert "ctc_weight" in (out / "logs" / "tune_weights.log").read_text()
    # the meetings: every condition of one synthetic meeting transcribed and scored, the targets checked
    meet = res["meetings"]
    assert [r["condition"] for r in meet["rows"]] == [c.slug for c in demo_meetings.CONDITIONS]
    for r in meet["rows"]:
        assert r["meetings"] == meet["meetings"] and r["duration_s"] == pytest.approx(30, abs=1)
        record = json.loads((out / "meetings" / r["condition"] / f"{meet['meetings'][0]}.json").read_text())
        assert record["scores"]["cpwer"]["error_rate"] * 100 == pytest.approx(r["cpwer"])
    assert len(meet["targets"]) == len(demo_meetings.TARGETS)
    assert "| oracle segments | - | audio+video |" in (out / "results.md").read_text()
    # the same folder with another corpus size: refused before any work, naming the difference
    again = _run_demo("--size", "tiny", "--n_train", "20", "--out_dir", str(out))
    assert again.returncode == 2 and "n_train 16 -> 20" in again.stderr and "Traceback" not in again.stderr
