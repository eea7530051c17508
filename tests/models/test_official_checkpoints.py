"""Official-style AV-HuBERT checkpoints load safely (torch weights_only) through our code and fairseq's."""

from __future__ import annotations

import argparse
import datetime
import logging
import pickle

import numpy as np
import pytest
import sentencepiece as spm
import torch
from fairseq import checkpoint_utils
from fairseq.data import encoders
from omegaconf import OmegaConf

import avhubert_ami  # noqa: F401  registers models, task and the safe-load allowlist
from avhubert_ami.checkpoints.safe_load import UNSAFE_ENV, load_checkpoint_state
from avhubert_ami.models.encoder import AVHubertConfig, AVHubertModel
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.testing.models import TINY_DECODER, TINY_ENCODER, av_batch, fake_task, make_dictionary

ABSENT = "/checkpoint/upstream/absent"


def _task_cfg(**extra):
    cfg = {
        "_name": "av_hubert_pretraining",
        "data": f"{ABSENT}/data",
        "label_dir": f"{ABSENT}/labels",
        "normalize": True,
        "stack_order_audio": 4,
        "sample_rate": 25,
        "max_sample_size": 2000,
        "input_modality": "image",
        "legacy_task_key": 3,
    }  # the last two: keys our task does not know
    cfg.update(extra)
    return cfg


def _pretrain_model_cfg():
    return {
        "_name": "av_hubert",
        **TINY_ENCODER,
        "label_rate": 25,
        "modality_dropout": 0.5,
        "audio_dropout": 0.5,
        "selection_type": "same_seq",
        "wav_input": False,
        "legacy_model_key": "x",
    }


def _common_state(model, cfg, task_state, num_updates):
    return {
        "args": None,
        "cfg": cfg,
        "model": {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()},  # fp16 ckpt
        "criterion": None,
        "optimizer_history": [
            {
                "criterion_name": "AVHubertCriterion",
                "optimizer_name": "FairseqAdam",
                "lr_scheduler_state": {"best": None},
                "num_updates": num_updates,
            }
        ],
        "task_state": task_state,
        "extra_state": {
            "metrics": {},
            "previous_training_time": np.float64(12.5),
            "train_iterator": {"epoch": 3, "iterations_in_epoch": 0, "shuffle": True},
        },
    }


@pytest.fixture(scope="module")
def pretrain_ckpt(tmp_path_factory):
    """A pretraining checkpoint like base_vox_iter5.pt: cfg pickled as an omegaconf DictConfig."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny_vox_iter5.pt"
    torch.manual_seed(3)
    model = AVHubertModel.build_model(AVHubertConfig(**TINY_ENCODER), fake_task(n_labels=50))
    cfg = OmegaConf.create(
        {
            "common": {"fp16": True, "user_dir": "/private/avhubert"},
            "task": _task_cfg(labels=["km"]),
            "model": _pretrain_model_cfg(),
        },
        flags={"allow_objects": True},
    )
    torch.save(_common_state(model, cfg, {"dictionaries": [make_dictionary(50)]}, 800_000), path)
    return path, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("spm")
    (d / "text.txt").write_text("\n".join(["hello world this is a meeting", "the quick brown fox"] * 20))
    spm.SentencePieceTrainer.train(
        input=str(d / "text.txt"), model_prefix=str(d / "spm"), vocab_size=25, model_type="unigram", minloglevel=2
    )
    return d / "spm.model"


@pytest.fixture(scope="module")
def seq2seq_ckpt(tmp_path_factory, pretrain_ckpt, spm_model):
    """A fine-tuned checkpoint like base_vox_433h.pt: plain-dict cfg with w2v_args, dictionary + tokenizer state."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny_vox_433h.pt"
    torch.manual_seed(4)
    cfg = AVHubertSeq2SeqConfig(w2v_path=str(pretrain_ckpt[0]), **TINY_DECODER, freeze_finetune_updates=100)
    model = AVHubertSeq2Seq.build_model(cfg, fake_task(n_target=37))
    model_cfg = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=False, enum_to_str=True)
    model_cfg.update(
        {
            "_name": "av_hubert_seq2seq",
            "w2v_path": f"{ABSENT}/base_vox_iter5.pt",
            "normalize": True,
            "data": f"{ABSENT}/data",
            "legacy_s2s_key": 1,
        }
    )
    model_cfg["w2v_args"] = {"model": _pretrain_model_cfg(), "task": _task_cfg(labels=["km"])}
    task_cfg = _task_cfg(
        labels=["wrd"],
        is_s2s=True,
        fine_tuning=True,
        tokenizer_bpe_name="sentencepiece",
        tokenizer_bpe_model=f"{ABSENT}/spm.model",
    )
    bpe = encoders.build_bpe(argparse.Namespace(bpe="sentencepiece", sentencepiece_model=str(spm_model)))
    state = _common_state(
        model,
        {"task": task_cfg, "model": model_cfg},
        {"target_dictionary": make_dictionary(37), "s2s_tokenizer": bpe},
        45_000,
    )
    torch.save(state, path)
    return path, {k: v.clone() for k, v in model.state_dict().items()}


def _assert_weights_equal_fp16(model, reference):
    state = model.state_dict()
    assert set(state) == set(reference)
    for key, ref in reference.items():
        want = ref.half().float() if ref.is_floating_point() else ref
        assert state[key].dtype == ref.dtype, key
        torch.testing.assert_close(state[key], want, msg=key, rtol=0, atol=0)


def test_default_torch_load_accepts_official_layout(pretrain_ckpt, seq2seq_ckpt):
    for (path, _), key in ((pretrain_ckpt, "mask_emb"), (seq2seq_ckpt, "encoder.w2v_model.mask_emb")):
        state = torch.load(path, map_location="cpu")  # weights_only=True by default on torch >= 2.6
        assert state["model"][key].dtype == torch.float16
    state = load_checkpoint_state(str(seq2seq_ckpt[0]))
    assert len(state["task_state"]["target_dictionary"]) == 41
    assert state["task_state"]["s2s_tokenizer"].encode("hello world")
    assert OmegaConf.is_config(state["cfg"])


def test_unexpected_class_refused_unless_opted_in(tmp_path, pretrain_ckpt, monkeypatch):
    state = torch.load(pretrain_ckpt[0], map_location="cpu")
    state["extra_state"]["saved_at"] = datetime.datetime(2021, 1, 1)  # not on the allowlist
    path = tmp_path / "unexpected.pt"
    torch.save(state, path)
    with pytest.raises(pickle.UnpicklingError, match="unexpected.pt.*trust_pickle"):
        load_checkpoint_state(str(path))
    with pytest.raises(pickle.UnpicklingError):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert load_checkpoint_state(str(path), trust_pickle=True)["extra_state"]["saved_at"].year == 2021
    monkeypatch.setenv(UNSAFE_ENV, "1")
    assert load_checkpoint_state(str(path))["extra_state"]["saved_at"].year == 2021


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        load_checkpoint_state(str(tmp_path / "nothere.pt"))


def test_seq2seq_from_w2v_path_loads_encoder(pretrain_ckpt, caplog):
    path, reference = pretrain_ckpt
    with caplog.at_level(logging.WARNING):
        model = AVHubertSeq2Seq.build_model(
            AVHubertSeq2SeqConfig(w2v_path=str(path), **TINY_DECODER, audio_drop_prob=0.2), fake_task(n_target=37)
        )
    assert "legacy_model_key" in caplog.text and "wav_input" in caplog.text
    w2v = model.encoder.w2v_model
    assert w2v.final_proj is None and w2v.label_embs_concat.shape == (54, 32)
    assert w2v.audio_drop_prob == 0.2 and w2v.cfg.selection_type == "same_seq"
    got = w2v.state_dict()
    for key in (
        "feature_extractor_video.resnet.trunk.layer1.0.conv1.weight",
        "encoder.layers.1.fc2.weight",
        "label_embs_concat",
        "encoder.pos_conv.0.weight_g",
    ):
        assert got[key].dtype == torch.float32
        torch.testing.assert_close(got[key], reference[key].half().float(), rtol=0, atol=0)
    # mask_emb is not taken from the checkpoint (upstream deletes it before loading)
    assert not torch.equal(got["mask_emb"], reference["mask_emb"].half().float())
    assert model.cfg.w2v_args is not None  # saved checkpoints are self-contained


def test_fairseq_loads_pretraining_checkpoint(pretrain_ckpt, tmp_path):
    path, reference = pretrain_ckpt
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(path)], arg_overrides={"data": str(tmp_path), "label_dir": str(tmp_path)}
    )
    assert isinstance(models[0], AVHubertModel)
    assert cfg.task.data == str(tmp_path) and cfg.task.label_dir == str(tmp_path)
    _assert_weights_equal_fp16(models[0], reference)


def test_fairseq_round_trip_of_fine_tuned_checkpoint(seq2seq_ckpt, spm_model, tmp_path):
    path, reference = seq2seq_ckpt
    overrides = {"data": str(tmp_path), "label_dir": str(tmp_path), "tokenizer_bpe_model": str(spm_model)}
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([str(path)], arg_overrides=overrides)
    model = models[0]
    assert isinstance(model, AVHubertSeq2Seq)
    assert cfg.task.tokenizer_bpe_model == str(spm_model) and cfg.task.data == str(tmp_path)
    assert len(task.target_dictionary) == 41
    _assert_weights_equal_fp16(model, reference)
    assert model.num_updates == 45_000 and not model.encoder_frozen()
    model.eval()
    logits, _ = model(**av_batch(batch=2, frames=6, tgt_len=3))
    assert logits.shape == (2, 3, 41) and torch.isfinite(logits).all()
