"""finetune_avhubert_ami.py end to end on tiny data: train + eval, bad flags, kill-and-resume, CPU DDP,
continuing from a checkpoint."""

import json
import os
import signal
import subprocess
import time

import pytest

from avhubert_ami.cli import finetune as cli
from tests.support.processes import quiet_env
from tests.support.training import GUIDE_FAST, guide_cmd, num_updates, tiny_data, trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")

FAST = [*GUIDE_FAST, "--override", "lr_scheduler.decay_steps=3"]


@pytest.fixture
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("cli_data"))


def test_train_and_eval_writes_checkpoints_and_eval_results(tmp_path, data, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "run"
    rc = cli.main(
        [
            "--output_dir",
            str(out),
            "--dataset_name",
            str(data),
            "--do_train",
            "--do_eval",
            "--max_steps",
            "2",
            "--evaluation_strategy",
            "no",
            "--generation_num_beams",
            "1",
            "--fp16",
            "--use_audio",
            "True",
            "--use_visual",
            "True",
            "--normalizer",
            "kaldi",
            *FAST,
        ]
    )
    assert rc == 0
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 2
    res = json.loads((out / "eval_results.json").read_text())
    assert res["normalizer"] == "kaldi"  # --do_eval scores with the chosen normaliser and says so
    assert json.loads((out / "eval" / "test_audio_video" / "results.json").read_text())["normalizer"] == "kaldi"
    assert res["split"] == "test" and res["checkpoint"].endswith("checkpoint_last.pt")  # no validation -> no best
    assert res["audio_video"]["n_utterances"] == 3
    assert res["audio_only"]["n_utterances"] == 2 and res["video_only"]["n_utterances"] == 2
    for mode in ("audio_video", "audio_only", "video_only"):
        assert 0 <= res[mode]["wer"] and 0 <= res[mode]["cer"]
        assert (out / "eval" / f"test_{mode}" / "results.json").is_file()
    assert res["eval_wer"] == res["audio_video"]["wer"]
    cfg = (out / "hydra_train.log").read_text()
    assert "'fp16': False" in cfg  # --fp16 on CPU: warned and off


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--use_audio", "False", "--use_visual", "False"], "no input"),
        (["--eval_steps", "10", "--evaluation_strategy", "no"], "contradicts"),
        (["--model_name_or_path", "/nonexistent/model.pt"], "no such file"),
        (["--config_name", "tiny_cpu", "--dataset_name", "/nonexistent/data"], "no such directory"),
    ],
)
def test_bad_flags_fail_before_any_work(tmp_path, data, capsys, argv, message):
    argv = [
        "--output_dir",
        str(tmp_path / "o"),
        "--do_train",
        *(["--dataset_name", str(data)] if "--dataset_name" not in argv else []),
        *argv,
    ]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_manifest_dir_without_tokenizer_says_how_to_make_it(tmp_path, data, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("train.tsv", "train.wrd"):
        (bare / name).write_text((data / name).read_text())
    assert cli.main(["--output_dir", str(tmp_path / "o"), "--dataset_name", str(bare), "--do_train"]) == 2
    assert "avhubert-tokenizer --manifest_dir" in capsys.readouterr().err


def _cmd(out, data, *extra):
    return guide_cmd(out, data, "--evaluation_strategy", "no", "--override", "lr_scheduler.decay_steps=3", *extra)


def _train(out, data, *extra) -> str:
    """Run the guide's command line to the end (it must succeed); return the run's hydra_train.log."""
    p = subprocess.run(_cmd(out, data, *extra), capture_output=True, text=True, env=quiet_env(), timeout=400)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return (out / "hydra_train.log").read_text()


@pytest.mark.slow
def test_sigkill_mid_run_then_same_command_resumes(tmp_path, data):
    out = tmp_path / "run"
    cmd = _cmd(out, data, "--max_steps", "12", "--save_steps", "2")
    last = out / "checkpoints" / "checkpoint_last.pt"
    with open(tmp_path / "first.log", "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=quiet_env(), start_new_session=True)
        try:
            deadline = time.time() + 300
            while not last.exists() and p.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            assert last.exists(), (tmp_path / "first.log").read_text()[-3000:]
            time.sleep(0.5)
            os.killpg(p.pid, signal.SIGKILL)  # the driver and its fairseq child (same session we created)
        finally:
            p.wait()
    killed_at = num_updates(last)
    assert 0 < killed_at < 12
    log = _train(out, data, "--max_steps", "12", "--save_steps", "2")  # the same command again
    assert "Loaded checkpoint" in log and f"@ {killed_at} updates" in log or f"{killed_at} updates)" in log
    assert num_updates(last) == 12


@pytest.mark.slow
def test_two_process_gloo_ddp_on_cpu(tmp_path, data):
    out = tmp_path / "ddp"
    log = _train(out, data, "--max_steps", "2", "--cpu_ddp_world_size", "2")
    assert "distributed init (rank 0)" in log and "training on 2 devices" in log
    assert (out / "rank1" / "hydra_train.log").is_file()
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 2


@pytest.mark.slow
def test_continue_from_seq2seq_checkpoint_resets_optimizer(tmp_path_factory, tmp_path):
    trained = trained_checkpoint(tmp_path_factory)
    out = tmp_path / "cont"
    start = str(trained / "checkpoints" / "checkpoint_last.pt")
    flags = ["--max_steps", "2", "--model_name_or_path", start, "--freeze_encoder", "True"]
    log = _train(out, trained.parent / "data", *flags)
    assert "optimizer, lr scheduler, meters, dataloader will be reset" in log
    assert "'freeze_encoder': True" in log
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 2


def test_hf_dataset_is_converted_once_into_output_dir(tmp_path, monkeypatch):
    from avhubert_ami.prep import hf_dataset
    from avhubert_ami.training.data_source import resolve_dataset
    from tests.support.preparation import make_hf_dataset

    hf = make_hf_dataset(str(tmp_path / "src"), video_form="path", bad_rows=False)
    out = tmp_path / "run"
    data = resolve_dataset(hf, out)
    assert data == out / "data"
    for name in ("train.tsv", "train.wrd", "valid.tsv", "test.tsv", "spm.model", "dict.wrd.txt"):
        assert (data / name).is_file(), name

    def must_not_run(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setattr(hf_dataset, "prepare_hf_dataset", must_not_run)
    assert resolve_dataset(hf, out) == data  # re-run of the same command: no second conversion


@pytest.mark.slow
def test_pretrained_checkpoint_becomes_w2v_path(tmp_path, data):
    from tests.support.training import fake_pretrain_checkpoint

    ckpt = fake_pretrain_checkpoint(tmp_path / "tiny_vox_iter5.pt")
    out = tmp_path / "ft"
    log = _train(out, data, "--max_steps", "2", "--model_name_or_path", str(ckpt))
    assert f"'w2v_path': '{ckpt}'" in log and f"loaded {ckpt}" in log
    assert num_updates(out / "checkpoints" / "checkpoint_last.pt") == 2
