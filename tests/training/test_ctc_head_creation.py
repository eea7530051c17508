"""Continuing an attention-only checkpoint with the hybrid preset creates and trains the CTC head."""

import pytest

from avhubert_ami.checkpoints.safe_load import load_checkpoint_state
from avhubert_ami.cli import finetune as cli
from tests.support.training import ONE_BEAM, guide_args

pytestmark = pytest.mark.usefixtures("single_thread")


def test_continuing_from_an_attention_only_checkpoint_creates_the_ctc_head(tmp_path, guide_data):
    """Our own attention-only checkpoint (--ctc_weight 0, no head) continued with the hybrid preset:
    everything else loads strictly, the new head is logged and trained."""
    first = tmp_path / "att"
    common = ["--max_steps", "2", "--evaluation_strategy", "no", "--override", "lr_scheduler.decay_steps=1", *ONE_BEAM]
    assert cli.main(guide_args(first, guide_data, "--ctc_weight", "0", *common)) == 0
    att = load_checkpoint_state(str(first / "checkpoints" / "checkpoint_last.pt"))["model"]
    assert not any(k.startswith("ctc_proj") for k in att)
    second = tmp_path / "hybrid"
    start = str(first / "checkpoints" / "checkpoint_last.pt")
    assert cli.main(guide_args(second, guide_data, "--model_name_or_path", start, *common)) == 0
    assert "checkpoint has no CTC head: created ctc_proj" in (second / "hydra_train.log").read_text()
    hybrid = load_checkpoint_state(str(second / "checkpoints" / "checkpoint_last.pt"))["model"]
    assert set(hybrid) - set(att) == {"ctc_proj.weight", "ctc_proj.bias"}
