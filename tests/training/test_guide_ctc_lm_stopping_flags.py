"""The users'-guide flags of the hybrid model, LM fusion and early stopping: --ctc_weight, --lm_path/--lm_weight,
--early_stopping_patience, --metric_for_best_model (mapping and validation; no training here: the runs are in
tests/training/test_early_stopping.py)."""

import pytest

from avhubert_ami.errors import UsageError
from avhubert_ami.training import flags as trainer_args
from avhubert_ami.training.flags import parse_args, validate
from tests.support.training import guide_overrides, override_dict

BASE = ["--output_dir", "o", "--do_train", "--dataset_name", "d"]


def _map(argv):
    return override_dict(guide_overrides(argv))


def test_ctc_weight_sets_criterion_head_and_decoding_weight(monkeypatch):
    monkeypatch.setattr(trainer_args, "_task_has_field", lambda name: True)
    m = _map([*BASE, "--ctc_weight", "0.3"])
    assert m["criterion._name"] == "hybrid_ctc_attention" and m["criterion.ctc_weight"] == "0.3"
    assert m["model.ctc_head"] == "true" and m["task.ctc_weight"] == "0.3"
    m = _map([*BASE, "--ctc_weight", "0"])
    assert m["criterion.ctc_weight"] == "0.0" and m["model.ctc_head"] == "false"
    monkeypatch.setattr(trainer_args, "_task_has_field", lambda name: False)
    assert "task.ctc_weight" not in _map([*BASE, "--ctc_weight", "0.3"])  # a task without joint decoding


def test_early_stopping_and_metric_mapping():
    m = _map(
        [*BASE, "--early_stopping_patience", "3", "--metric_for_best_model", "cer", "--evaluation_strategy", "epoch"]
    )
    assert m["checkpoint.patience"] == "3" and m["checkpoint.best_checkpoint_metric"] == "cer"
    assert m["checkpoint.maximize_best_checkpoint_metric"] == "false"
    assert "checkpoint.save_interval_updates" not in m
    # steps: every validation also saves, so checkpoint_best.pt is the best validated model
    m = _map([*BASE, "--early_stopping_patience", "2", "--eval_steps", "50"])
    assert m["checkpoint.patience"] == "2" and m["checkpoint.save_interval_updates"] == "50"
    m = _map([*BASE, "--early_stopping_patience", "2", "--eval_steps", "50", "--save_steps", "50"])
    assert m["checkpoint.save_interval_updates"] == "50"


def test_without_the_flags_no_patience_and_preset_metric():
    m = _map([*BASE, "--eval_steps", "50"])
    assert not any(k.startswith("checkpoint.patience") or k.startswith("checkpoint.best") for k in m)
    assert not any(k.startswith(("criterion.", "model.ctc")) for k in m)


@pytest.mark.parametrize(
    "argv,match",
    [
        ([*BASE, "--early_stopping_patience", "2", "--evaluation_strategy", "no"], "needs validations"),
        ([*BASE, "--early_stopping_patience", "2", "--eval_steps", "5", "--save_steps", "7"], "must equal"),
        (["--output_dir", "o", "--do_eval", "--lm_weight", "0.5"], "needs --lm_path"),
        (["--output_dir", "o", "--do_eval", "--lm_path", "/no/such/lm.pt"], "no such file"),
    ],
)
def test_bad_combinations(argv, match):
    with pytest.raises(UsageError, match=match):
        validate(parse_args(argv), cuda=False)


@pytest.mark.parametrize(
    "argv",
    [
        ["--ctc_weight", "1.5"],
        ["--metric_for_best_model", "bleu"],
        ["--early_stopping_patience", "0"],
        ["--lm_weight", "-1"],
    ],
)
def test_bad_values_rejected_by_parser(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "o", "--do_eval", *argv])
    assert "error" in capsys.readouterr().err


def test_lm_flags_warn_without_do_eval(tmp_path):
    lm = tmp_path / "lm.pt"
    lm.write_bytes(b"x")
    checked = validate(parse_args([*BASE, "--lm_path", str(lm), "--lm_weight", "0.2"]), cuda=False)
    assert any("only apply with --do_eval" in w for w in checked.warnings)


def test_eval_search_settings_take_only_given_flags(tmp_path):
    from avhubert_ami.training import run

    s = run.search_settings(parse_args(["--output_dir", "o", "--do_eval"]))
    assert (s.beam, s.batch_size, s.ctc_weight, s.lm_path, s.lm_weight) == (5, 8, None, None, 0.0)
    lm = tmp_path / "lm.pt"
    lm.write_bytes(b"x")
    a = parse_args(
        ["--output_dir", "o", "--do_eval", "--ctc_weight", "0.3", "--lm_path", str(lm), "--lm_weight", "0.2"]
    )
    s = run.search_settings(a)
    assert (s.ctc_weight, s.lm_path, s.lm_weight) == (0.3, str(lm.resolve()), 0.2)
