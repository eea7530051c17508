"""The demo's reporting (scripts/demo_report.py): validation curve, tables, spread over seeds, results.md."""

import json

import pytest

from scripts import demo_config, demo_report


def test_validation_curve_parses_fairseq_json_log(tmp_path):
    log = tmp_path / "hydra_train.log"
    log.write_text(
        '[2026][train_inner][INFO] - {"epoch": 1, "loss": "4.2", "num_updates": "2"}\n'
        '[2026][valid][INFO] - {"epoch": 1, "valid_wer": "85.5", "valid_num_updates": "4"}\n'
        "garbage line with valid_wer but no json {\n"
        '[2026][valid][INFO] - {"epoch": 2, "valid_wer": "40", "valid_num_updates": "8", "valid_best_wer": "40"}\n'
    )
    assert demo_report.validation_curve(str(log)) == [(4, 85.5), (8, 40.0)]
    assert demo_report.validation_curve(str(tmp_path / "missing.log")) == []


def _row(wer, system="hybrid + joint CTC/attention search", cond="clean"):
    return {"condition": cond, "modalities": "audio+video", "system": system, "normalizer": "basic", "wer": wer}


def test_spread_mean_min_max_per_row(tmp_path):
    runs = {
        0: [dict(_row(20.0), cer=10.0), dict(_row(50.0, cond="noisy"), cer=25.0)],
        1: [dict(_row(30.0), cer=15.0), dict(_row(70.0, cond="noisy"), cer=35.0)],
        2: [dict(_row(25.0), cer=12.5), dict(_row(60.0, cond="noisy"), cer=30.0)],
    }
    entries = demo_report.spread(runs)
    assert [e["condition"] for e in entries] == ["clean", "noisy"]
    assert entries[0]["wer"]["mean"] == pytest.approx(25.0) and entries[0]["wer"]["min"] == 20.0
    assert entries[1]["wer"]["max"] == 70.0 and entries[1]["cer"]["values"] == [25.0, 35.0, 30.0]
    text = demo_report.write_spread(str(tmp_path), runs, {"commit": "abc"})
    assert "| clean | audio+video | hybrid + joint CTC/attention search | 25.00 | 20.00 | 30.00 |" in text
    written = json.loads((tmp_path / "spread.json").read_text())
    assert written["seeds"] == [0, 1, 2] and written["kind"] == "demo_spread" and written["commit"] == "abc"
    with pytest.raises(ValueError, match="missing"):
        demo_report.spread({0: [dict(_row(1.0), cer=1.0)], 1: [dict(_row(1.0, cond="noisy"), cer=1.0)]})


def test_results_markdown_is_rendered_from_results_json_alone():
    row = dict(_row(21.114), cer=21.93, ctc_weight=0.5, lm_weight=0.0, n_utterances=100)
    chance = dict(_row(88.27, system=demo_report.CHANCE_SYSTEM, cond="-"), cer=88.79, ctc_weight=0, lm_weight=0)
    record = {"joint": {"ctc_weight": 0.5, "lm_weight": 0.0}, "chosen": {"ctc_weight": 0.7, "lm_weight": 0.2}}
    results = {
        "config": {k: v for k, v in vars(demo_config.DemoConfig()).items()},
        "results": [row],
        "chance": dict(chance, n_utterances=100),
        "weights": {"by_modalities": {"audio+video": record}},
        "test_overlap_percent": {"in_train_transcripts": 24.0, "in_lm_extra_text": 38.0},
        "timings_s": {"train": 375.2},
        "cpu_s": {"train": 727.0},
    }
    text = demo_report.results_markdown(results)
    assert (
        "| clean | audio+video | hybrid + joint CTC/attention search | 0.5 | 0 | 21.11 | 21.93 | 100 | basic |" in text
    )
    assert "audio+video: ctc 0.5; ctc 0.7 + lm 0.2" in text and "24% of test utterances" in text
    assert text.rstrip().endswith("Step times, wall (CPU) s: train 375 (727)")
