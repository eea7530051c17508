"""The CTC head of ``av_hubert_seq2seq``: off by default, log-probabilities from the forward encoder pass, and
checkpoints with and without a head loading into models without and with one."""

from __future__ import annotations

import logging

import pytest
import torch

import avhubert_ami  # noqa: F401  registers models
from avhubert_ami.testing.models import av_batch
from tests.support.models import tiny_seq2seq


def test_no_head_by_default_and_layout_unchanged():
    plain, hybrid = tiny_seq2seq(), tiny_seq2seq(ctc_head=True)
    assert not plain.has_ctc_head and plain.ctc_proj is None
    assert hybrid.has_ctc_head
    extra = set(hybrid.state_dict()) - set(plain.state_dict())
    assert extra == {"ctc_proj.weight", "ctc_proj.bias"}
    assert hybrid.ctc_proj.weight.shape == (41, 64)  # len(tgt_dict) x encoder dim
    with pytest.raises(RuntimeError, match="no CTC head"):
        plain.ctc_log_probs({"encoder_out": torch.zeros(3, 1, 64)})


@pytest.mark.parametrize("audio,video", [(True, True), (True, False), (False, True)])
def test_ctc_log_probs_from_the_forward_encoder_pass(audio, video):
    model = tiny_seq2seq(ctc_head=True).eval()
    batch = av_batch(batch=2, frames=10, tgt_len=4, audio=audio, video=video)
    _, extra = model(**batch)
    enc = extra["encoder_out"]  # the same pass the decoder used
    lprobs = model.ctc_log_probs(enc)
    assert lprobs.shape == (10, 2, 41) and lprobs.dtype == torch.float32
    torch.testing.assert_close(lprobs.exp().sum(-1), torch.ones(10, 2))
    again = model.ctc_log_probs(model.encoder(batch["source"], batch["padding_mask"]))
    torch.testing.assert_close(lprobs, again)
    assert model.ctc_blank == 0  # tgt_dict.bos(), as fairseq's ctc criterion


def test_checkpoint_without_head_loads_strictly_and_logs(caplog):
    plain, hybrid = tiny_seq2seq(), tiny_seq2seq(ctc_head=True)
    for p in plain.parameters():
        p.data.add_(0.5)
    head = {k: v.clone() for k, v in hybrid.ctc_proj.state_dict().items()}
    with caplog.at_level(logging.INFO, logger="avhubert_ami.models.seq2seq"):
        hybrid.load_state_dict(plain.state_dict(), strict=True)
    assert "created ctc_proj" in caplog.text
    for key, val in plain.state_dict().items():
        assert torch.equal(hybrid.state_dict()[key], val), key
    assert all(torch.equal(hybrid.ctc_proj.state_dict()[k], v) for k, v in head.items())


def test_checkpoint_with_head_into_model_without_head(caplog):
    plain, hybrid = tiny_seq2seq(), tiny_seq2seq(ctc_head=True)
    with caplog.at_level(logging.WARNING, logger="avhubert_ami.models.seq2seq"):
        plain.load_state_dict(hybrid.state_dict(), strict=True)
    assert "ignoring ctc_proj" in caplog.text
