"""finetune_avhubert_ami.py flag table: parsing, hydra mapping, bad combinations (no training here)."""

from pathlib import Path

import pytest

from avhubert_ami.training.flags import (
    FLAGS,
    UsageError,
    build_parser,
    hydra_str,
    overrides_for,
    parse_args,
    validate,
)
from tests.support import REPO
from tests.support.packaging import console_scripts
from tests.support.training import guide_context, guide_overrides, override_dict

GUIDE_BASIC = (
    "--output_dir ./results/avhubert-ami --dataset_name data/ami/dataset --do_train --do_eval "
    "--evaluation_strategy steps --eval_steps 1000 --learning_rate 5e-5 --per_device_train_batch_size 8 "
    "--gradient_accumulation_steps 2 --per_device_eval_batch_size 8 --num_train_epochs 20 --warmup_steps 500 "
    "--logging_steps 100 --save_steps 1000 --save_total_limit 3 --dataloader_num_workers 4 --fp16"
).split()


def _map(argv, cuda=True, **ctx):
    out = guide_overrides(argv, cuda=cuda, **ctx)
    assert all(o.startswith("++") for o in out if "=" in o and not o.startswith(("+task", "optimization.clip")))
    return override_dict(out)


def test_guide_basic_command_maps_every_flag():
    m = _map(GUIDE_BASIC)
    assert m == {
        "checkpoint.save_dir": "/out/checkpoints",
        "common.tensorboard_logdir": "/out/tensorboard",
        "task.data": "/data",
        "task.label_dir": "/data",
        "task.tokenizer_bpe_model": "/data/spm.model",
        "dataset.validate_interval": "1000000",
        "dataset.validate_interval_updates": "1000",
        "optimization.lr": "[5e-05]",
        "dataset.batch_size": "8",
        "dataset.max_tokens": "null",
        "dataset.batch_size_valid": "8",
        "dataset.max_tokens_valid": "null",
        "optimization.update_freq": "[2]",
        "optimization.max_epoch": "20",
        "optimization.max_update": "0",
        "lr_scheduler.warmup_steps": "500",
        "common.log_interval": "100",
        "checkpoint.save_interval_updates": "1000",
        "checkpoint.keep_interval_updates": "3",
        "checkpoint.keep_last_epochs": "3",
        "dataset.num_workers": "4",
        "common.fp16": "true",
    }


def test_absent_flags_add_no_override_defaults_come_from_preset():
    m = _map(["--output_dir", "o", "--do_train", "--dataset_name", "d"])
    assert set(m) == {
        "checkpoint.save_dir",
        "common.tensorboard_logdir",
        "task.data",
        "task.label_dir",
        "task.tokenizer_bpe_model",
    }


def test_every_flag_has_help_and_parser_accepts_it():
    names = {a.dest for a in build_parser()._actions}
    for f in FLAGS:
        assert f.help and f.name in names


@pytest.mark.parametrize(
    "audio,visual,mods",
    [
        ("True", "False", "[audio]"),
        ("False", "True", "[video]"),
        ("True", "True", "[audio,video]"),
    ],
)
def test_modality_flags(audio, visual, mods):
    m = _map(["--output_dir", "o", "--do_eval", "--use_audio", audio, "--use_visual", visual])
    assert m["task.modalities"] == mods


def test_one_modality_flag_alone_keeps_the_other():
    assert _map(["--output_dir", "o", "--do_eval", "--use_visual", "False"])["task.modalities"] == "[audio]"


def test_bool_flag_forms():
    for argv, expected in (
        (["--fp16"], True),
        (["--fp16", "True"], True),
        (["--fp16", "false"], False),
        (["--fp16", "0"], False),
    ):
        assert parse_args(["--output_dir", "o", *argv]).fp16 is expected
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "o", "--fp16", "maybe"])


def test_drop_probs_fusion_freeze_and_steps():
    m = _map(
        [
            "--output_dir",
            "o",
            "--do_train",
            "--dataset_name",
            "d",
            "--audio_drop_prob",
            "0.1",
            "--visual_drop_prob",
            "0.2",
            "--fusion",
            "add",
            "--freeze_encoder",
            "True",
            "--max_steps",
            "50",
            "--num_train_epochs",
            "3",
        ]
    )
    assert m["task.audio_drop_prob"] == "0.1" and m["task.visual_drop_prob"] == "0.2"
    assert m["model.modality_fuse"] == "add" and m["model.freeze_encoder"] == "true"
    assert m["optimization.max_update"] == "50" and m["optimization.max_epoch"] == "3"  # max_steps wins


def test_checkpoint_kinds_map_to_w2v_path_or_finetune_from_model():
    argv = ["--output_dir", "o", "--do_eval", "--model_name_or_path", "x.pt"]
    assert _map(argv, init_kind="pretrain", init_path=Path("/c/base.pt"))["model.w2v_path"] == "/c/base.pt"
    m = _map(argv, init_kind="seq2seq", init_path=Path("/c/ft.pt"))
    assert m["checkpoint.finetune_from_model"] == "/c/ft.pt" and "model.w2v_path" not in m


def test_evaluation_strategies():
    assert (
        _map(["--output_dir", "o", "--do_eval", "--evaluation_strategy", "no"])["dataset.disable_validation"] == "true"
    )
    m = _map(["--output_dir", "o", "--do_eval", "--evaluation_strategy", "epoch"])
    assert m["dataset.validate_interval"] == "1" and m["dataset.validate_interval_updates"] == "0"
    m = _map(["--output_dir", "o", "--do_eval", "--eval_steps", "7"])  # eval_steps alone implies steps
    assert m["dataset.validate_interval_updates"] == "7" and m["dataset.validate_interval"] == "1000000"


def test_override_passthrough_and_conflict():
    m = _map(
        ["--output_dir", "o", "--do_eval", "--override", "optimization.clip_norm=5", "--override", "+task.extra=1"]
    )
    assert m["optimization.clip_norm"] == "5" and m["+task.extra"] == "1"
    a = parse_args(["--output_dir", "o", "--do_eval", "--learning_rate", "1e-4", "--override", "optimization.lr=[1]"])
    validate(a, cuda=True)
    with pytest.raises(UsageError, match="--learning_rate already sets"):
        overrides_for(a, guide_context())


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--do_train", "--dataset_name", "d", "--use_audio", "False", "--use_visual", "False"], "no input"),
        (["--do_train", "--dataset_name", "d", "--eval_steps", "5", "--evaluation_strategy", "no"], "contradicts"),
        (["--do_train", "--dataset_name", "d", "--eval_steps", "5", "--evaluation_strategy", "epoch"], "contradicts"),
        (["--do_train", "--dataset_name", "d", "--evaluation_strategy", "steps"], "needs --eval_steps"),
        (["--do_train", "--dataset_name", "d", "--audio_drop_prob", "0.6", "--visual_drop_prob", "0.6"], "<= 1"),
        (["--do_train", "--dataset_name", "d", "--use_audio", "False", "--audio_drop_prob", "0.1"], "contradicts"),
        (["--do_train", "--dataset_name", "d", "--fp16", "--bf16"], "exclusive"),
        (["--do_train"], "needs --dataset_name"),
        (["--dataset_name", "d"], "nothing to do"),
        (["--do_eval", "--override", "novalue"], "KEY=VALUE"),
    ],
)
def test_bad_combinations_fail_before_work(argv, match):
    with pytest.raises((UsageError, ValueError), match=match):
        validate(parse_args(["--output_dir", "o", *argv]), cuda=True)


@pytest.mark.parametrize(
    "argv",
    [
        ["--learning_rate", "-1"],
        ["--per_device_train_batch_size", "0"],
        ["--audio_drop_prob", "1.5"],
        ["--fusion", "sum"],
        ["--lerning_rate", "1"],
        ["--evaluation_strategy", "sometimes"],
        ["--config_name", "huge"],
    ],
)
def test_bad_values_rejected_by_parser(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "o", "--do_eval", *argv])
    assert "error" in capsys.readouterr().err


def test_fp16_on_cpu_warns_and_turns_off():
    a = parse_args(["--output_dir", "o", "--do_train", "--dataset_name", "d", "--fp16"])
    checked = validate(a, cuda=False)
    assert a.fp16 is False and any("GPU" in w for w in checked.warnings)
    assert "++common.fp16=false" in overrides_for(a, guide_context())


def test_hydra_str_quotes_only_when_needed():
    assert hydra_str("/a/b-c_d.pt") == "/a/b-c_d.pt"
    assert hydra_str("/a b/it's") == "'/a b/it\\'s'"
    assert hydra_str([0.5]) == "[0.5]" and hydra_str(None) == "null" and hydra_str(False) == "false"


def test_decoder_width_follows_a_pretrained_encoder():
    from avhubert_ami.training.run import decoder_width_overrides

    assert decoder_width_overrides("base_ami", 768) == {}
    assert decoder_width_overrides("large_ami", 1024) == {}
    assert decoder_width_overrides("tiny_cpu", 64) == {
        "model.decoder_embed_dim": "64",
        "model.decoder_ffn_embed_dim": "256",
        "model.decoder_attention_heads": "4",
    }
    assert decoder_width_overrides("tiny_cpu", 30)["model.decoder_attention_heads"] == "3"  # heads divide the width


def test_override_key_parsing_is_shared_with_the_driver():
    from avhubert_ami.training import flags as trainer_args
    from avhubert_ami.training import run

    assert trainer_args.override_key(" ++task.data=/x=y") == "task.data"
    assert trainer_args.override_key("~model.ctc_head") == "model.ctc_head"
    assert trainer_args.sets_key(["+a.b=1", "c=2"], "a.b") and not trainer_args.sets_key(["a.bc=1"], "a.b")
    overrides = ["++common.cpu=true"]
    run._add_default(overrides, "common.cpu", "false")
    run._add_default(overrides, "common.fp16", "false")
    assert overrides == ["++common.cpu=true", "++common.fp16=false"]


def test_preset_choices_are_the_packaged_presets():
    """--config_name / --preset choices name exactly the yaml files inside the package (avhubert_ami/conf)."""
    from avhubert_ami.lm import train as lm
    from avhubert_ami.training import flags as trainer_args
    from avhubert_ami.training import presets

    assert presets.FINETUNE_CONF.parent.parent == presets.USER_DIR
    assert set(trainer_args.PRESETS) == {p.stem for p in presets.FINETUNE_CONF.glob("*.yaml")}
    assert set(lm.PRESETS) == {p.stem for p in presets.LM_CONF.glob("*.yaml")}
    repo_conf = REPO / "conf"
    assert repo_conf.is_symlink() and repo_conf.resolve() == presets.USER_DIR / "conf"  # one copy of each file


def test_avhubert_finetune_console_script_names_itself(monkeypatch, capsys, tmp_path):
    """The installed console script is the guide's CLI under its own name (usage and one-line errors)."""
    import importlib

    module, func = console_scripts()["avhubert-finetune"].split(":")
    entry = getattr(importlib.import_module(module), func)
    monkeypatch.setattr("sys.argv", ["avhubert-finetune", "--output_dir", str(tmp_path)])
    assert entry() == 2
    assert capsys.readouterr().err.startswith("avhubert-finetune: error: nothing to do")
    monkeypatch.setattr("sys.argv", ["avhubert-finetune", "--help"])
    with pytest.raises(SystemExit) as done:
        entry()
    assert done.value.code == 0 and capsys.readouterr().out.startswith("usage: avhubert-finetune")
