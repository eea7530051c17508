"""Decoding settings are refused before any model loads, and a diverged (NaN) model ends a decode in one line
(issue 24 items 7 and 9): avhubert-decode, avhubert-transcribe, fairseq-generate."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.support import REPO
from tests.support.decoding import README_SEARCH, decode_args, generate_args
from tests.support.processes import quiet_env
from tests.support.training import tiny_data

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A manifest folder, a recording and a checkpoint path that must never be loaded (it is not a checkpoint)."""
    from avhubert_ami.data.audio import write_audio

    base = tmp_path_factory.mktemp("refusals")
    data = tiny_data(base / "data")
    write_audio(str(base / "a.wav"), np.zeros(16000, np.float32))
    (base / "never_loaded.pt").write_bytes(b"not a checkpoint")
    return {"data": data, "wav": base / "a.wav", "ckpt": base / "never_loaded.pt", "out": base / "out"}


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--beam", "0"], "--beam 0: the beam must hold at least 1"),
        (["--batch_size", "0"], "--batch_size 0"),
        (["--ctc_weight", "1.5"], "--ctc_weight 1.5: must be in [0, 1]"),
        (["--lm_path", "lm.pt"], "--lm_path lm.pt needs --lm_weight"),
        (["--lm_weight", "0.3"], "--lm_weight 0.3 needs --lm_path"),
    ],
)
def test_decode_refuses_search_settings_before_loading(inputs, cli_error, flags, says):
    from avhubert_ami.cli import decode

    rc, line = cli_error(decode.main, decode_args(inputs["ckpt"], inputs["data"], *flags))
    assert rc == 2 and line.startswith("avhubert-decode: error: ") and says in line


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--beam", "0"], "--beam 0: the beam must hold at least 1"),
        (["--max_segment_s", "0"], "--max_segment_s 0.0: segments shorter than 0.5 s"),
        (["--window_s", "0"], "--window_s 0.0: must be > 0"),
        (["--lm_path", "lm.pt"], "--lm_path lm.pt needs --lm_weight"),
    ],
)
def test_transcribe_refuses_settings_before_loading(inputs, cli_error, flags, says):
    from avhubert_ami.cli import transcribe

    argv = ["--path", str(inputs["ckpt"]), str(inputs["wav"]), "--output_dir", str(inputs["out"]), "--cpu", *flags]
    rc, line = cli_error(transcribe.main, argv)
    assert rc == 2 and line.startswith("avhubert-transcribe: error: ") and says in line
    assert not inputs["out"].exists()  # refused before anything was written


# ---- a diverged model ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nan_checkpoint(tmp_path_factory):
    import torch

    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state
    from tests.support.training import trained_checkpoint

    run_dir = trained_checkpoint(tmp_path_factory)
    state = load_checkpoint_state(str(run_dir / "checkpoints" / "checkpoint_best.pt"))
    state["model"]["encoder.w2v_model.encoder.layers.0.fc1.weight"].fill_(float("nan"))
    path = tmp_path_factory.mktemp("nan") / "diverged.pt"
    torch.save(state, path)
    return path, run_dir.parent / "data"


def test_decode_of_a_nan_model_is_one_line_exit_1(nan_checkpoint, cli_error, tmp_path):
    from avhubert_ami.cli import decode

    path, data = nan_checkpoint
    rc, line = cli_error(decode.main, decode_args(path, data, "--results_dir", str(tmp_path), **README_SEARCH))
    assert rc == 1 and "NaN/inf" in line and str(path) in line


def test_fairseq_generate_of_a_nan_model_raises_the_plugins_work_error(nan_checkpoint, capsys):
    """fairseq-generate lets it through; the plugin's exception hook (next test) makes it one line."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq_cli import generate

    from avhubert_ami.errors import WorkError

    path, data = nan_checkpoint
    argv = [str(a) for a in generate_args(data, path, **README_SEARCH)]
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(options.get_generation_parser(), argv))
    with pytest.raises(WorkError, match="NaN/inf"):
        generate.main(cfg)


@pytest.mark.parametrize("error, status", [("UsageError", 2), ("WorkError", 1), ("NonFiniteModelError", 1)])
def test_an_uncaught_plugin_error_ends_fairseqs_commands_in_one_line(error, status, monkeypatch, capsys):
    """The interpreter calls sys.excepthook for an exception nobody caught (fairseq-generate's): the plugin's hook
    prints one line and exits with the boundary's status (an end-to-end run: the slow test below)."""
    from avhubert_ami import errors

    hook = sys.excepthook
    assert getattr(hook, "_avhubert_ami_patched", False)  # installed by importing the plugin
    monkeypatch.setattr(sys, "argv", ["/usr/bin/fairseq-generate"])
    value = getattr(errors, error)("what went wrong, and how to fix it")
    with pytest.raises(SystemExit) as stop:
        hook(type(value), value, None)
    assert stop.value.code == status
    assert capsys.readouterr().err == "fairseq-generate: error: what went wrong, and how to fix it\n"


@pytest.mark.slow
def test_fairseq_generate_with_an_lm_missing_a_symbol_is_one_line_exit_2(tmp_path_factory):
    """End to end (a subprocess: the exception hook ends the interpreter)."""
    from tests.support.lm import random_lm, reordered_lm
    from tests.support.training import trained_checkpoint

    run_dir = trained_checkpoint(tmp_path_factory)
    data = run_dir.parent / "data"
    base = tmp_path_factory.mktemp("generate_lm")
    missing = reordered_lm(random_lm(base / "same", data / "dict.wrd.txt"), base / "missing", drop=1)
    argv = generate_args(data, run_dir / "checkpoints" / "checkpoint_best.pt", "--lm-path", missing, "--lm-weight", "1")
    p = subprocess.run(
        [sys.executable, "-m", "fairseq_cli.generate", *map(str, argv)],
        capture_output=True,
        text=True,
        env=quiet_env(),
        cwd=REPO,
        timeout=600,
    )
    assert p.returncode == 2, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    errors = [line for line in p.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "lacks 1 of the recogniser's 27 symbols" in errors[0]
