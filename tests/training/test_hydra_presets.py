"""Presets compose under fairseq's hydra; tiny_cpu trains via fairseq-hydra-train with valid WER/CER,
best-checkpoint tracking on `wer` and tensorboard logs."""

import json
import re

import pytest

from tests.support.training import CONF, trained_checkpoint


def _compose(name, overrides):
    from fairseq.dataclass.initialize import hydra_init
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    hydra_init(name)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.1"):
        return compose(config_name=name, overrides=overrides)


@pytest.mark.parametrize("name,layers,max_tokens", [("base_ami", 6, 4000), ("large_ami", 9, 2000)])
def test_gpu_presets_compose(name, layers, max_tokens):
    cfg = _compose(name, ["common.user_dir=/u", "task.data=/d", "model.w2v_path=/w.pt"])
    assert cfg.task._name == "ami_av" and list(cfg.task.modalities) == ["audio", "video"] and cfg.task.eval_wer
    assert cfg.model._name == "av_hubert_seq2seq" and cfg.model.decoder_layers == layers
    assert cfg.checkpoint.best_checkpoint_metric == "wer" and cfg.checkpoint.maximize_best_checkpoint_metric is False
    assert cfg.common.fp16 and cfg.dataset.max_tokens == max_tokens and cfg.lr_scheduler._name == "tri_stage"
    assert cfg.criterion._name == "hybrid_ctc_attention" and cfg.model.freeze_finetune_updates > 0
    assert cfg.criterion.ctc_weight == 0.1 and cfg.model.ctc_head  # auto_avsr's fine-tuning share
    audio_only = _compose(
        name, ["common.user_dir=/u", "task.data=/d", "model.w2v_path=/w.pt", "task.modalities=[audio]"]
    )
    assert list(audio_only.task.modalities) == ["audio"]


def test_presets_hold_no_machine_paths():
    for path in CONF.glob("*.yaml"):
        body = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        assert not re.search(r":\s*/", body), f"{path.name} has an absolute path"
        from omegaconf import OmegaConf

        cfg = _compose(path.stem, [])
        assert OmegaConf.is_missing(cfg.task, "data")


def test_tiny_training_logs_valid_wer_keeps_best_and_tensorboard(tmp_path_factory):
    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state

    run = trained_checkpoint(tmp_path_factory)
    log = (run / "hydra_train.log").read_text()
    valid = [json.loads(m) for m in re.findall(r"\[valid\]\[INFO\] - (\{.*\})", log)]
    assert valid, "no validation stats logged"
    wers = [float(v["valid_wer"]) for v in valid]
    assert all("valid_cer" in v for v in valid) and all(0 <= w <= 100 for w in wers)
    ckpts = run / "checkpoints"
    assert (ckpts / "checkpoint_best.pt").is_file() and (ckpts / "checkpoint_last.pt").is_file()
    best = load_checkpoint_state(str(ckpts / "checkpoint_best.pt"))
    assert best["extra_state"]["best"] == pytest.approx(min(wers))
    last = load_checkpoint_state(str(ckpts / "checkpoint_last.pt"))
    assert last["optimizer_history"][-1]["num_updates"] == 4
    for sub in ("train", "valid"):
        assert list((run / "tensorboard" / sub).glob("events.out.tfevents.*")), f"no tensorboard {sub} events"
