"""Early stopping in a users'-guide training run on tiny data (--early_stopping_patience): the run stops when the
validation metric stops improving, and the count goes on across a resume."""

import logging

import pytest

from avhubert_ami.cli import finetune as cli
from tests.support.training import ONE_BEAM, guide_args, num_updates

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("strategy", [["--eval_steps", "2"], ["--evaluation_strategy", "epoch"]])
def test_early_stopping_stops_a_run_whose_metric_cannot_improve(tmp_path, guide_data, caplog, strategy):
    """A learning rate of 1e-12 and a frozen encoder (eval mode: no BatchNorm statistics drift) leave the
    (3-decimal) valid loss unchanged: with patience 2 and a
    validation every 2 updates (= one epoch of 6 utterances in batches of 3) the run stops at update
    6 of 12 (validations at 2: best, 4, 6: no gain)."""
    out = tmp_path / "es"
    flags = ["--max_steps", "12", *strategy, "--early_stopping_patience", "2", "--metric_for_best_model", "loss"]
    flags += ["--learning_rate", "1e-12", "--freeze_encoder", "True", "--override", "lr_scheduler.decay_steps=11"]
    argv = guide_args(out, guide_data, *flags, *ONE_BEAM)
    with caplog.at_level(logging.INFO, logger="finetune_avhubert_ami"):
        assert cli.main(argv) == 0
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 6
    assert (out / "checkpoints" / "checkpoint_best.pt").is_file()
    log = (out / "hydra_train.log").read_text()
    assert "early stop since valid performance hasn't improved for last 2 runs" in log
    assert "training stopped early: valid loss did not improve for 2 validations" in caplog.text


def test_early_stopping_counts_across_a_resume(tmp_path, guide_data, caplog):
    """Patience 3, a validation every 2 updates, a valid loss that cannot improve: stopped after 4 updates (best
    at 2, one validation without gain at 4) and resumed with --max_steps 16, the run stops at update 8 (3 without
    gain: 4, 6, 8), as an uninterrupted run does; counting afresh after the resume it went on to update 12."""
    flags = ["--eval_steps", "2", "--early_stopping_patience", "3", "--metric_for_best_model", "loss"]
    flags += ["--learning_rate", "1e-12", "--freeze_encoder", "True", "--override", "lr_scheduler.decay_steps=15"]
    out = tmp_path / "resumed"
    assert cli.main(guide_args(out, guide_data, "--max_steps", "4", *flags, *ONE_BEAM)) == 0
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 4
    with caplog.at_level(logging.INFO):
        assert cli.main(guide_args(out, guide_data, "--max_steps", "16", *flags, *ONE_BEAM)) == 0
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 8
    log = (out / "hydra_train.log").read_text()
    assert "early stopping resumes its count: 1 validation(s) without a better loss" in log
    assert "early stop since valid performance hasn't improved for last 3 runs" in log
