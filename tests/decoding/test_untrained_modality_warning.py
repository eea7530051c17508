"""Decoding with a modality the model never trained on warns (fairseq-generate and avhubert-decode)."""

import logging

import pytest
import torch
from fairseq import options

from tests.support.decoding import decode_args, generate_args
from tests.support.training import trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")

WARNING = "which the model never trained on"


@pytest.fixture
def audio_only_model(tmp_path_factory, tmp_path):
    """The session's tiny model relabelled as trained on audio only (what the warning reads is task.modalities)."""
    run_dir = trained_checkpoint(tmp_path_factory)
    state = torch.load(run_dir / "checkpoints" / "checkpoint_last.pt", map_location="cpu")
    state["cfg"]["task"]["modalities"] = ["audio"]
    path = tmp_path / "audio_only.pt"
    torch.save(state, path)
    return path, run_dir.parent / "data"


@pytest.mark.parametrize("modalities,warned", [(["video"], True), (["audio", "video"], True), (["audio"], False)])
def test_fairseq_generate_warns(audio_only_model, tmp_path, caplog, modalities, warned):
    from fairseq_cli import generate

    ckpt, data = audio_only_model
    caplog.set_level(logging.WARNING)
    flags = ["--modalities", repr(modalities), "--results-path", str(tmp_path / "out")]
    args = generate_args(data, ckpt, *flags, beam=1, batch_size=4, max_len_b=3)
    generate.main(options.parse_args_and_arch(options.get_generation_parser(), args))
    assert (WARNING in caplog.text) == warned
    if warned:
        assert "--modalities audio" in caplog.text


def test_avhubert_decode_warns(audio_only_model, tmp_path, caplog):
    from avhubert_ami.cli import decode

    ckpt, data = audio_only_model
    caplog.set_level(logging.WARNING)
    args = decode_args(ckpt, data, modalities="video", beam=1, max_len_b=3, results_dir=tmp_path / "dec")
    assert decode.main(args) == 0
    assert WARNING in caplog.text and "task.modalities=audio" in caplog.text
