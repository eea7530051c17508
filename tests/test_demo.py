"""End-to-end demo runner (scripts/run_demo.py) on a tiny corpus: every artefact exists and parses."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import run_demo  # noqa: E402


def test_validation_curve_parses_fairseq_json_log(tmp_path):
    log = tmp_path / "hydra_train.log"
    log.write_text(
        '[2026][train_inner][INFO] - {"epoch": 1, "loss": "4.2", "num_updates": "2"}\n'
        '[2026][valid][INFO] - {"epoch": 1, "valid_wer": "85.5", "valid_num_updates": "4"}\n'
        "garbage line with valid_wer but no json {\n"
        '[2026][valid][INFO] - {"epoch": 2, "valid_wer": "40", "valid_num_updates": "8", "valid_best_wer": "40"}\n'
    )
    assert run_demo.validation_curve(str(log)) == [(4, 85.5), (8, 40.0)]
    assert run_demo.validation_curve(str(tmp_path / "missing.log")) == []


def test_generate_output_parsing_and_command_line(tmp_path):
    text = (
        "S-1\tx\nT-1\tthe budget\nH-1\t-0.3\t▁the ▁budget\nD-1\t-0.3\tthe budget\n"
        "T-0\tokay remote\nH-0\t-0.5\t▁okay\nD-0\t-0.5\tokay\n"
        "Generate test with beam=5: WER (basic normalizer): 25.00\n"
    )
    wer, refs, hyps = run_demo.parse_generate_output(text)
    assert wer == 25.0 and refs == ["okay remote", "the budget"] and hyps == ["okay", "the budget"]
    assert run_demo.parse_generate_output(text.replace(" (basic normalizer)", ""))[0] == 25.0  # fairseq's wer
    with pytest.raises(run_demo.StepError):
        run_demo.parse_generate_output("no score here")
    argv = run_demo.generate_argv("ck.pt", "data", ("audio",), 5, str(tmp_path))
    assert argv[:3] == ["data", "--user-dir", os.path.join(REPO, "avhubert_ami")]
    assert argv[argv.index("--modalities") + 1] == "audio" and argv[argv.index("--scoring") + 1] == "ami_wer"


def test_size_presets_are_config_fields():
    fields = set(run_demo.DemoConfig.__dataclass_fields__)
    for preset in run_demo.SIZES.values():
        assert set(preset) <= fields


@pytest.mark.slow
def test_tiny_demo_end_to_end(tmp_path):
    out = tmp_path / "demo_out"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "run_demo.py"), "--size", "tiny",
                           "--out_dir", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (out / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| clean") or line.startswith("| noisy")]
    assert len(rows) == 6
    res = json.loads((out / "results.json").read_text())
    assert {(r["condition"], r["modalities"]) for r in res["results"]} == {
        (c, m) for c, m, _ in run_demo.SETTINGS}
    for r in res["results"]:
        assert r["n_utterances"] == 4 and r["wer"] >= 0 and r["cer"] >= 0
    png = out / "valid_wer.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run_demo.validation_curve(str(out / "train" / "hydra_train.log"))
    for d in ("manifest", "manifest_noisy"):
        for name in ("test.tsv", "test.wrd", "spm.model", "dict.wrd.txt"):
            assert (out / d / name).is_file(), (d, name)
    ckpts = os.listdir(out / "train" / "checkpoints")
    assert "checkpoint_last.pt" in ckpts
    for cond, label, _ in run_demo.SETTINGS:
        hyp = (out / "decode" / f"{cond}_{label}" / "hypo.txt").read_text().splitlines()
        assert len(hyp) == 4
