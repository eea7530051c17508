"""End-to-end demo runner (scripts/run_demo.py) on a tiny corpus: every artefact exists and parses."""

import json
import os
import subprocess
import sys

import pytest

from tests.support import REPO

sys.path.insert(0, os.path.join(REPO, "scripts"))

import demo_tables  # noqa: E402
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


def test_size_presets_are_config_fields():
    fields = set(run_demo.DemoConfig.__dataclass_fields__)
    for preset in run_demo.SIZES.values():
        assert set(preset) <= fields


def test_rows_cover_the_issue_settings_and_systems():
    pairs = {(s.condition, s.label) for s in run_demo.SETTINGS}
    assert {
        ("clean", "audio+video"),
        ("noisy", "audio+video"),
        ("noisy", "audio-only"),
        ("clean", "video-only"),
        ("clean", "audio-only"),
    } == pairs
    default = run_demo.systems(False)
    assert [(s.model, s.joint, s.lm) for s in default] == [
        ("hybrid", False, False),
        ("hybrid", True, False),
        ("hybrid", True, True),
    ]
    assert run_demo.systems(True)[0] == run_demo.ATTENTION_TRAINED and run_demo.ATTENTION_TRAINED.model == "attention"
    assert len({run_demo.slug(s) for s in run_demo.systems(True)}) == 4


def test_weights_per_row_follow_the_valid_choice():
    demo = run_demo.Demo(run_demo.DemoConfig(out_dir="unused"))
    demo.weights = {
        "audio+video": {"joint": {"ctc_weight": 0.3, "lm_weight": 0.0}, "lm": {"ctc_weight": 0.3, "lm_weight": 0.2}}
    }
    av, v = run_demo.SETTINGS[0], run_demo.SETTINGS[2]
    att, joint, lm = run_demo.SYSTEMS
    assert demo.weights_for(av, att) == (0.0, 0.0)
    assert demo.weights_for(av, joint) == (0.3, 0.0)
    assert demo.weights_for(v, lm) == (0.3, 0.2)  # tuned on audio+video unless tune_each_modality
    demo.weights["video-only"] = {
        "joint": {"ctc_weight": 0.5, "lm_weight": 0.0},
        "lm": {"ctc_weight": 0.5, "lm_weight": 0.4},
    }
    assert demo.weights_for(v, lm) == (0.5, 0.4) and demo.weights_for(av, lm) == (0.3, 0.2)


def test_best_point_tie_rule():
    """The demo's grid and avhubert-decode --tune_weights keep points by this one rule."""
    from avhubert_ami.decoding.weight_grid import best_point

    pts = [
        {"ctc_weight": 0.3, "lm_weight": 0.2, "wer": 10.0, "cer": 5.0},
        {"ctc_weight": 0.3, "lm_weight": 0.0, "wer": 10.0, "cer": 6.0},
        {"ctc_weight": 0.3, "lm_weight": 0.4, "wer": 12.0, "cer": 1.0},
    ]
    assert best_point(pts)["lm_weight"] == 0.0  # equal WER: the smaller weights win


def test_lm_row_chooses_its_ctc_weight_together_with_the_lm():
    """The LM row is the best of the whole ctc x lm grid, not the best lm_weight at the joint row's ctc_weight
    (on the demo the LM's best partner is a higher ctc_weight than the best one without LM)."""
    from avhubert_ami.decoding.weight_grid import TunedWeights

    wer = {(0.5, 0.0): 26.9, (0.9, 0.0): 33.5, (0.5, 0.2): 26.5, (0.9, 0.2): 24.9, (0.9, 0.4): 23.7}
    pts = [{"ctc_weight": c, "lm_weight": w, "wer": v, "cer": v} for (c, w), v in wer.items()]
    tuned = TunedWeights("valid", pts)
    joint, lm = tuned.joint, tuned.chosen
    assert (joint["ctc_weight"], joint["lm_weight"]) == (0.5, 0.0)
    assert (lm["ctc_weight"], lm["lm_weight"]) == (0.9, 0.4)  # two-stage tuning would have kept (0.5, 0.2)
    useless_lm = [p for p in pts if p["lm_weight"] == 0] + [{"ctc_weight": 0.5, "lm_weight": 0.2, "wer": 30, "cer": 1}]
    useless = TunedWeights("valid", useless_lm)
    assert (useless.joint, useless.chosen) == (joint, joint)  # an LM that never helps: the LM row is the joint row
    assert TunedWeights("valid", pts[2:]).joint is None


def test_ctc_weight_grid_reaches_0_9_in_the_demo_and_tune_weights():
    from avhubert_ami.cli.decode import build_parser
    from avhubert_ami.decoding import weight_grid

    assert weight_grid.DEFAULT_CTC_WEIGHTS == (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
    assert weight_grid.parse_weights(run_demo.DemoConfig().ctc_weights, "ctc_weights") == list(
        weight_grid.DEFAULT_CTC_WEIGHTS
    )
    grid = weight_grid.grid_values(True, "lm.pt", None, None, "valid", "test")
    assert len(grid) == 6 * 4 and (0.9, 0.4) in grid and (0.7, 0.0) in grid
    assert "0,0.1,0.3,0.5,0.7,0.9" in build_parser().format_help()


def test_lm_extra_text_is_grammar_text_of_its_own_seed():
    a = run_demo.lm_extra_text(0, 50, "grammar", 2, 10)
    assert a == run_demo.lm_extra_text(0, 50, "grammar", 2, 10)
    assert a != run_demo.lm_extra_text(1, 50, "grammar", 2, 10)
    assert all(2 <= len(s.split()) <= 10 for s in a)


def test_parse_seeds():
    assert run_demo.parse_seeds("0,1, 2") == [0, 1, 2]
    for bad in ("", "0,0", "a,1"):
        with pytest.raises(ValueError):
            run_demo.parse_seeds(bad)


def _row(seed_wer, system="hybrid + joint CTC/attention search", cond="clean"):
    return {
        "condition": cond,
        "modalities": "audio+video",
        "system": system,
        "normalizer": "basic",
        "wer": seed_wer,
        "cer": seed_wer / 2,
    }


def test_spread_mean_min_max_per_row(tmp_path):
    runs = {
        0: [_row(20.0), _row(50.0, cond="noisy")],
        1: [_row(30.0), _row(70.0, cond="noisy")],
        2: [_row(25.0), _row(60.0, cond="noisy")],
    }
    entries = demo_tables.spread(runs)
    assert [e["condition"] for e in entries] == ["clean", "noisy"]
    assert entries[0]["wer"]["mean"] == pytest.approx(25.0) and entries[0]["wer"]["min"] == 20.0
    assert entries[1]["wer"]["max"] == 70.0 and entries[1]["cer"]["values"] == [25.0, 35.0, 30.0]
    text = run_demo.write_spread(str(tmp_path), runs)
    assert "| clean | audio+video | hybrid + joint CTC/attention search | 25.00 | 20.00 | 30.00 |" in text
    assert json.loads((tmp_path / "spread.json").read_text())["seeds"] == [0, 1, 2]
    with pytest.raises(ValueError, match="missing"):
        demo_tables.spread({0: [_row(1.0)], 1: [_row(1.0, cond="noisy")]})


def test_bad_seeds_flag_is_a_usage_error(capsys):
    assert run_demo.main(["--seeds", "x", "--out_dir", "unused"]) == 2
    assert "--seeds" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_demo_end_to_end(tmp_path):
    out = tmp_path / "demo_out"
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "run_demo.py"), "--size", "tiny", "--out_dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    n_rows = len(run_demo.SETTINGS) * len(run_demo.SYSTEMS)
    table = (out / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| clean") or line.startswith("| noisy")]
    assert len(rows) == n_rows and "| chance (most frequent word) |" in table
    res = json.loads((out / "results.json").read_text())
    assert {(r["condition"], r["modalities"], r["system"]) for r in res["results"]} == {
        (s.condition, s.label, y.name) for s in run_demo.SETTINGS for y in run_demo.SYSTEMS
    }
    for r in res["results"]:
        assert r["n_utterances"] == 4 and r["wer"] >= 0 and r["cer"] >= 0 and r["normalizer"] == "basic"
        decoded = json.loads((out / r["decode_dir"] / "results.json").read_text())  # avhubert-decode's own file
        assert decoded["wer"] == r["wer"] and decoded["ctc_weight"] == r["ctc_weight"]
        assert len((out / r["decode_dir"] / "hypo.txt").read_text().splitlines()) == 4
    # weights: chosen on valid from the grid, applied to the joint and LM rows
    weights = json.loads((out / "weights.json").read_text())
    assert weights["tuned_on"] == "valid" and weights["normalizer"] == "basic"
    tuned = weights["by_modalities"]["audio+video"]
    assert sorted((g["ctc_weight"], g["lm_weight"]) for g in tuned["grid"]) == [(0, 0), (0, 0.2), (0.3, 0), (0.3, 0.2)]
    assert tuned["joint"]["lm_weight"] == 0.0 and tuned["joint"] in tuned["grid"] and tuned["lm"] in tuned["grid"]
    assert tuned["lm"]["wer"] == min(g["wer"] for g in tuned["grid"])
    for r in res["results"]:
        if r["system"] == run_demo.SYSTEMS[1].name:
            assert (r["ctc_weight"], r["lm_weight"]) == (tuned["joint"]["ctc_weight"], 0.0)
        if r["system"] == run_demo.SYSTEMS[2].name:
            assert (r["ctc_weight"], r["lm_weight"]) == (tuned["lm"]["ctc_weight"], tuned["lm"]["lm_weight"])
    assert (out / "lm" / "checkpoint_best.pt").is_file()
    assert len((out / "lm" / "extra_text.txt").read_text().splitlines()) == 40
    png = out / "valid_wer.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run_demo.validation_curve(str(out / "train" / "hydra_train.log"))
    for d in ("manifest", "manifest_noisy"):
        for name in ("test.tsv", "test.wrd", "spm.model", "dict.wrd.txt"):
            assert (out / d / name).is_file(), (d, name)
    assert "checkpoint_last.pt" in os.listdir(out / "train" / "checkpoints")
    for step in ("synth_clean", "manifest_clean", "train", "lm", "tune_weights", "decode"):
        assert (out / "logs" / f"{step}.log").stat().st_size > 0, step
    assert "ctc_weight" in (out / "logs" / "tune_weights.log").read_text()


def test_step_log_keeps_prints_and_plugin_logs(tmp_path, capsys):
    import logging

    demo = run_demo.Demo(run_demo.DemoConfig(out_dir=str(tmp_path)))
    logging.getLogger().setLevel(logging.WARNING)  # as the preprocessing CLIs leave it
    with demo.step_log("probe"):
        print("printed line")
        assert sys.stdout.isatty() in (True, False)  # the tee answers what the console answers (no AttributeError)
        logging.getLogger("avhubert_ami.decoding.weight_grid").info("grid point")
    text = (tmp_path / "logs" / "probe.log").read_text()
    assert "printed line" in text and "grid point" in text
    assert "printed line" in capsys.readouterr().out
    assert demo.timings["probe"] >= 0 and "probe" in demo.cpu_times


def test_output_folder_of_another_configuration_is_refused_not_reused(tmp_path):
    """Steps resume what they find: a folder made with other corpus/model settings must not be reused silently;
    settings every run redoes (beam, weight grids, normaliser) may change."""
    out = tmp_path / "demo"
    artefacts = [str(out / "corpus"), str(out / "train")]
    cfg = run_demo.DemoConfig(out_dir=str(out))
    run_demo.check_output_folder(str(out), cfg, artefacts)  # fresh folder: config recorded
    recorded = json.loads((out / run_demo.CONFIG_FILE).read_text())
    assert recorded["n_valid"] == cfg.n_valid and "beam" not in recorded
    (out / "train").mkdir()
    run_demo.check_output_folder(str(out), cfg, artefacts)  # same configuration: reused
    run_demo.check_output_folder(str(out), run_demo.DemoConfig(out_dir=str(out), beam=10, lm_weights="0.3"), artefacts)
    with pytest.raises(run_demo.StepError, match=rf"n_valid {cfg.n_valid} -> 60.*max_updates {cfg.max_updates} -> 50"):
        run_demo.check_output_folder(str(out), run_demo.DemoConfig(out_dir=str(out), n_valid=60, max_updates=50), [])
    (out / run_demo.CONFIG_FILE).unlink()  # artefacts of an older version, no record of how they were made
    with pytest.raises(run_demo.StepError, match=r"train.*no demo_config.json"):
        run_demo.check_output_folder(str(out), cfg, artefacts)
