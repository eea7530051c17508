"""A users'-guide run with --freeze_encoder from a pretraining checkpoint leaves the encoder exactly as loaded."""

import pytest
import torch

from avhubert_ami.checkpoints.safe_load import load_checkpoint_state
from avhubert_ami.cli import finetune as cli
from tests.support.training import ONE_BEAM, fake_pretrain_checkpoint, guide_args

pytestmark = pytest.mark.usefixtures("single_thread")


def test_frozen_encoder_stays_exactly_as_loaded(tmp_path, guide_data):
    """--freeze_encoder from a pretraining checkpoint: every encoder tensor of the fine-tuned checkpoint
    (BatchNorm running statistics included) equals the pretrained one; mask_emb is never loaded (upstream)."""
    pre = fake_pretrain_checkpoint(tmp_path / "tiny_vox_iter5.pt")
    out = tmp_path / "frozen"
    flags = ["--max_steps", "3", "--evaluation_strategy", "no", "--model_name_or_path", str(pre)]
    flags += ["--freeze_encoder", "True", "--override", "lr_scheduler.decay_steps=2"]
    argv = guide_args(out, guide_data, *flags, *ONE_BEAM)
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
