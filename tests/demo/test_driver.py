"""The demo driver's own logic (scripts/run_demo.py, scripts/demo_config.py): flags and presets, the output
folder's configuration check, the rows and their weights, the training flags, the step logs."""

import json

import pytest

from avhubert_ami.errors import UsageError
from scripts import demo_config, run_demo


def test_size_presets_are_config_fields():
    fields = set(demo_config.DemoConfig.__dataclass_fields__)
    for preset in demo_config.SIZES.values():
        assert set(preset) <= fields


def test_flags_override_the_size_preset():
    parser = demo_config.build_parser("run_demo", None)
    [cfg] = demo_config.configs(parser.parse_args(["--size", "tiny", "--beam", "3", "--out_dir", "X"]))
    assert (cfg.beam, cfg.n_train, cfg.out_dir) == (3, 16, "X")
    [cfg] = demo_config.configs(parser.parse_args(["--compare_attention_only", "true"]))
    assert cfg.compare_attention_only is True and cfg.n_train == demo_config.DemoConfig.n_train


def test_seeds_give_one_config_per_seed_in_its_own_folder():
    parser = demo_config.build_parser("run_demo", None)
    cfgs = demo_config.configs(parser.parse_args(["--seeds", "2,0", "--out_dir", "OUT", "--size", "tiny"]))
    assert [(c.seed, c.out_dir, c.n_train) for c in cfgs] == [(2, "OUT/seed2", 16), (0, "OUT/seed0", 16)]
    with pytest.raises(UsageError, match="--seed and --seeds"):
        demo_config.configs(parser.parse_args(["--seeds", "0,1", "--seed", "3"]))


def test_parse_seeds():
    assert demo_config.parse_seeds("0,1, 2") == [0, 1, 2]
    for bad in ("", "0,0", "a,1"):
        with pytest.raises(UsageError, match="--seeds"):
            demo_config.parse_seeds(bad)


def test_bad_seeds_flag_is_one_usage_error_line(cli_error):
    rc, line = cli_error(run_demo.main, ["--seeds", "x", "--out_dir", "unused"])
    assert rc == 2 and line.startswith("run_demo: error: --seeds")


def test_rows_cover_the_test_conditions_and_systems():
    pairs = {(s.condition, s.label) for s in demo_config.SETTINGS}
    assert pairs == {
        ("clean", "audio+video"),
        ("noisy", "audio+video"),
        ("noisy", "audio-only"),
        ("clean", "video-only"),
        ("clean", "audio-only"),
    }
    assert [(s.model, s.joint, s.lm) for s in demo_config.systems(False)] == [
        ("hybrid", False, False),
        ("hybrid", True, False),
        ("hybrid", True, True),
    ]
    with_attention = demo_config.systems(True)
    assert with_attention[0].model == "attention" and len({s.slug for s in with_attention}) == 4


def _record(ctc, lm_ctc, lm):
    return {"joint": {"ctc_weight": ctc, "lm_weight": 0.0}, "chosen": {"ctc_weight": lm_ctc, "lm_weight": lm}}


def test_weights_of_a_row_follow_the_valid_choice():
    demo = run_demo.Demo(demo_config.DemoConfig(out_dir="unused"))
    demo.weights = {"audio+video": _record(0.3, 0.7, 0.2)}
    av, video = demo_config.SETTINGS[0], demo_config.SETTINGS[2]
    att, joint, lm = demo_config.SYSTEMS
    assert demo.weights_for(av, att) == (0.0, 0.0)
    assert demo.weights_for(av, joint) == (0.3, 0.0)
    assert demo.weights_for(video, lm) == (0.7, 0.2)  # tuned on audio+video unless tune_each_modality
    demo.weights["video-only"] = _record(0.5, 0.9, 0.4)
    assert demo.weights_for(video, lm) == (0.9, 0.4) and demo.weights_for(av, lm) == (0.7, 0.2)


def test_training_flags_are_the_guides_and_fit_the_schedule_to_the_updates():
    from avhubert_ami.training.flags import parse_args

    cfg = demo_config.DemoConfig(max_updates=900, eval_steps=225, batch_size=8)
    args = parse_args(run_demo.train_argv(cfg, "/m", "/m/noise", "/out", 0.3))
    assert (args.max_steps, args.eval_steps, args.save_steps, args.warmup_steps) == (900, 225, 225, 90)
    assert (args.ctc_weight, args.per_device_train_batch_size, args.learning_rate) == (0.3, 8, 0.002)
    assert args.do_train and not args.do_eval and args.cpu and args.config_name == "tiny_cpu"
    assert "++lr_scheduler.hold_steps=450" in args.override
    assert "++lr_scheduler.decay_steps=360" in args.override  # 900 - 90 warm-up - 450 held
    assert "++task.noise_snr='-5,10'" in args.override


def test_demo_grid_is_the_weight_grids_default():
    from avhubert_ami.decoding.weight_grid import DEFAULT_CTC_WEIGHTS, DEFAULT_LM_WEIGHTS, parse_weights

    cfg = demo_config.DemoConfig()
    assert parse_weights(cfg.ctc_weights, "ctc_weights") == list(DEFAULT_CTC_WEIGHTS)
    assert [0.0] + parse_weights(cfg.lm_weights, "lm_weights") == list(DEFAULT_LM_WEIGHTS)


def test_lm_extra_text_is_grammar_text_of_its_own_seed():
    a = run_demo.lm_extra_text(0, 50, "grammar", 2, 10)
    assert a == run_demo.lm_extra_text(0, 50, "grammar", 2, 10)
    assert a != run_demo.lm_extra_text(1, 50, "grammar", 2, 10)
    assert all(2 <= len(s.split()) <= 10 for s in a)


def test_output_folder_of_another_configuration_is_refused_not_reused(tmp_path):
    """Steps resume what they find: a folder made with other corpus/model settings must not be reused silently;
    settings every run redoes (beam, weight grids, normaliser) may change."""
    out = tmp_path / "demo"
    artefacts = [str(out / "corpus"), str(out / "train")]
    cfg = demo_config.DemoConfig(out_dir=str(out))
    demo_config.check_output_folder(str(out), cfg, artefacts)  # fresh folder: configuration recorded
    recorded = json.loads((out / demo_config.CONFIG_FILE).read_text())
    assert recorded["n_valid"] == cfg.n_valid and "beam" not in recorded
    (out / "train").mkdir()
    demo_config.check_output_folder(str(out), cfg, artefacts)  # same configuration: reused
    other_search = demo_config.DemoConfig(out_dir=str(out), beam=10, lm_weights="0.3")
    demo_config.check_output_folder(str(out), other_search, artefacts)
    other = demo_config.DemoConfig(out_dir=str(out), n_valid=60, max_updates=50)
    with pytest.raises(UsageError, match=rf"n_valid {cfg.n_valid} -> 60.*max_updates {cfg.max_updates} -> 50"):
        demo_config.check_output_folder(str(out), other, [])
    (out / demo_config.CONFIG_FILE).unlink()  # artefacts of an older version, no record of how they were made
    with pytest.raises(UsageError, match=r"train.*no demo_config.json"):
        demo_config.check_output_folder(str(out), cfg, artefacts)
