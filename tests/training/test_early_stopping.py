"""Training runs of issue 12 on tiny data: early stopping (§4) and a frozen encoder left as loaded (§4b)."""

import logging

import pytest
import torch

from avhubert_ami.checkpoints.safe_load import load_checkpoint_state
from avhubert_ami.cli import finetune as cli
from tests.support.training import fake_pretrain_checkpoint, guide_args, num_updates, tiny_data

pytestmark = pytest.mark.usefixtures("single_thread")

ONE_BEAM = ["--generation_num_beams", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("issue12_data"))


@pytest.mark.parametrize("strategy", [["--eval_steps", "2"], ["--evaluation_strategy", "epoch"]])
def test_early_stopping_stops_a_run_whose_metric_cannot_improve(tmp_path, data, caplog, strategy):
    """A learning rate of 1e-12 and a frozen encoder (eval mode: no BatchNorm statistics drift) leave the
    (3-decimal) valid loss unchanged: with patience 2 and a
    validation every 2 updates (= one epoch of 6 utterances in batches of 3) the run stops at update
    6 of 12 (validations at 2: best, 4, 6: no gain)."""
    out = tmp_path / "es"
    flags = ["--max_steps", "12", *strategy, "--early_stopping_patience", "2", "--metric_for_best_model", "loss"]
    flags += ["--learning_rate", "1e-12", "--freeze_encoder", "True", "--override", "lr_scheduler.decay_steps=11"]
    argv = guide_args(out, data, *flags, *ONE_BEAM)
    with caplog.at_level(logging.INFO, logger="finetune_avhubert_ami"):
        assert cli.main(argv) == 0
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 6
    assert (out / "checkpoints" / "checkpoint_best.pt").is_file()
    log = (out / "hydra_train.log").read_text()
    assert "early stop since valid performance hasn't improved for last 2 runs" in log
    assert "training stopped early: valid loss did not improve for 2 validations" in caplog.text


def test_frozen_encoder_stays_exactly_as_loaded(tmp_path, data):
    """--freeze_encoder from a pretraining checkpoint: every encoder tensor of the fine-tuned checkpoint
    (BatchNorm running statistics included) equals the pretrained one; mask_emb is never loaded (upstream)."""
    pre = fake_pretrain_checkpoint(tmp_path / "tiny_vox_iter5.pt")
    out = tmp_path / "frozen"
    flags = ["--max_steps", "3", "--evaluation_strategy", "no", "--model_name_or_path", str(pre)]
    flags += ["--freeze_encoder", "True", "--override", "lr_scheduler.decay_steps=2"]
    argv = guide_args(out, data, *flags, *ONE_BEAM)
    assert cli.main(argv) == 0
    loaded = load_checkpoint_state(str(pre))["model"]
    tuned = load_checkpoint_state(str(out / "checkpoints" / "checkpoint_last.pt"))["model"]
    prefix = "encoder.w2v_model."
    encoder = {k[len(prefix) :]: v for k, v in tuned.items() if k.startswith(prefix)}
    expected = {k for k in loaded if k != "mask_emb" and not k.startswith("final_proj.")}
    assert set(encoder) - {"mask_emb"} == expected
    bn = [k for k in expected if "running_mean" in k]
    assert len(bn) > 5, "the video ResNet's BatchNorm statistics are part of the comparison"
    changed = [k for k in expected if not torch.equal(encoder[k], loaded[k])]
    assert changed == []
    assert "ctc_proj.weight" in tuned  # the preset's CTC head trains on the frozen encoder


def test_continuing_from_an_attention_only_checkpoint_creates_the_ctc_head(tmp_path, data):
    """Our own attention-only checkpoint (--ctc_weight 0, no head) continued with the hybrid preset:
    everything else loads strictly, the new head is logged and trained."""
    first = tmp_path / "att"
    common = ["--max_steps", "2", "--evaluation_strategy", "no", "--override", "lr_scheduler.decay_steps=1", *ONE_BEAM]
    assert cli.main(guide_args(first, data, "--ctc_weight", "0", *common)) == 0
    att = load_checkpoint_state(str(first / "checkpoints" / "checkpoint_last.pt"))["model"]
    assert not any(k.startswith("ctc_proj") for k in att)
    second = tmp_path / "hybrid"
    start = str(first / "checkpoints" / "checkpoint_last.pt")
    assert cli.main(guide_args(second, data, "--model_name_or_path", start, *common)) == 0
    assert "checkpoint has no CTC head: created ctc_proj" in (second / "hydra_train.log").read_text()
    hybrid = load_checkpoint_state(str(second / "checkpoints" / "checkpoint_last.pt"))["model"]
    assert set(hybrid) - set(att) == {"ctc_proj.weight", "ctc_proj.bias"}


def test_early_stopping_counts_across_a_resume(tmp_path, data, caplog):
    """Patience 3, a validation every 2 updates, a valid loss that cannot improve: stopped after 4 updates (best
    at 2, one validation without gain at 4) and resumed with --max_steps 16, the run stops at update 8 (3 without
    gain: 4, 6, 8), as an uninterrupted run does; counting afresh after the resume it went on to update 12."""
    flags = ["--eval_steps", "2", "--early_stopping_patience", "3", "--metric_for_best_model", "loss"]
    flags += ["--learning_rate", "1e-12", "--freeze_encoder", "True", "--override", "lr_scheduler.decay_steps=15"]
    out = tmp_path / "resumed"
    assert cli.main(guide_args(out, data, "--max_steps", "4", *flags, *ONE_BEAM)) == 0
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 4
    with caplog.at_level(logging.INFO):
        assert cli.main(guide_args(out, data, "--max_steps", "16", *flags, *ONE_BEAM)) == 0
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 8
    log = (out / "hydra_train.log").read_text()
    assert "early stopping resumes its count: 1 validation(s) without a better loss" in log
    assert "early stop since valid performance hasn't improved for last 3 runs" in log
