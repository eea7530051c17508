"""fairseq-generate (--scoring wer/cer, modality chosen at inference) and avhubert_ami.decoding.split agree."""

import json
import re
import sys

import pytest

from tests.support.decoding import README_SEARCH, decode_args, generate_args
from tests.support.processes import run
from tests.support.training import trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


def _generate_args(run_dir, scoring, modalities=None, results_path=None):
    checkpoint = run_dir / "checkpoints" / "checkpoint_best.pt"
    sp = ["--scoring", scoring, "--post-process", "sentencepiece"]
    args = generate_args(run_dir.parent / "data", checkpoint, *sp, **README_SEARCH, required_batch_size_multiple=1)
    if modalities:
        args += ["--modalities", repr(modalities)]
    if results_path:
        args += ["--results-path", str(results_path)]
    return args


def _parse(out, scoring):
    label = "CER" if scoring == "cer" else "WER"  # our scorers name their normaliser: "WER (kaldi normalizer): x"
    score = re.search(rf"Generate test with beam=5: {label}(?: \(\w+ normalizer\))?: ([0-9.]+)", out)
    assert score, out[-3000:]
    hyps = dict(re.findall(r"^D-(\d+)\t[-0-9.e]+\t(.*)$", out, flags=re.M))
    return float(score.group(1)), hyps


def _generate(run_dir, scoring, modalities, tmp_path):
    """The README command as a subprocess for audio-visual; in-process (same code, no start-up) otherwise."""
    if modalities is None:
        p = run([sys.executable, "-m", "fairseq_cli.generate", *_generate_args(run_dir, scoring)])
        return _parse(p.stdout + p.stderr, scoring)
    from fairseq import options
    from fairseq_cli import generate

    args = options.parse_args_and_arch(
        options.get_generation_parser(), _generate_args(run_dir, scoring, modalities, tmp_path)
    )
    generate.main(args)
    return _parse((tmp_path / "generate-test.txt").read_text(), scoring)


@pytest.mark.parametrize(
    "scoring,modalities,n_rows",
    [
        ("wer", None, 3),  # audio-visual; the audio-only and video-only rows decode with what they have
        ("cer", ["audio"], 2),  # audio-only model input: the row without audio is skipped
        ("wer", ["video"], 2),
        ("ami_wer", ["audio"], 2),  # our wer scorer (default basic normaliser) equals avhubert-decode's WER
    ],
)
def test_fairseq_generate_scores_match_decode_module(tmp_path_factory, tmp_path, scoring, modalities, n_rows):
    from avhubert_ami.decoding.split import decode_split

    run_dir = trained_checkpoint(tmp_path_factory)
    score, hyps = _generate(run_dir, scoring, modalities, tmp_path)
    assert len(hyps) == n_rows
    checkpoint = run_dir / "checkpoints" / "checkpoint_best.pt"
    ours = decode_split(str(checkpoint), str(run_dir.parent / "data"), "test", modalities, **README_SEARCH, cpu=True)
    assert ours.n_utterances == n_rows
    assert score == pytest.approx(ours.cer if scoring == "cer" else ours.wer, abs=0.01)
    assert sorted(h.strip() for h in hyps.values()) == sorted(u.hyp.strip() for u in ours.utterances)


def test_decode_cli_writes_hypotheses_references_and_json(tmp_path_factory, tmp_path):
    from avhubert_ami.cli import decode

    run_dir = trained_checkpoint(tmp_path_factory)
    data = run_dir.parent / "data"
    out = tmp_path / "dec"
    checkpoint = run_dir / "checkpoints" / "checkpoint_last.pt"
    rc = decode.main(decode_args(checkpoint, data, split="test", modalities="audio,video", beam=2, results_dir=out))
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    ids = [line.split("\t")[0] for line in (out / "hypo.txt").read_text().splitlines()]
    refs = [line.split("\t", 1)[1] for line in (out / "ref.txt").read_text().splitlines()]
    assert ids == ["test_000", "test_001", "test_002"] and res["n_utterances"] == 3
    assert refs == (data / "test.wrd").read_text().splitlines()
    assert res["modalities"] == ["audio", "video"] and res["beam"] == 2 and res["normalizer"] == "basic"
    words = sum(u["words"] for u in res["utterances"])
    assert res["wer"] == pytest.approx(100 * sum(u["word_errors"] for u in res["utterances"]) / words)
    assert 0 <= res["cer"] <= 100 * max(1, max(len(u["hyp"]) for u in res["utterances"]))


def test_decode_cli_rejects_bad_input(tmp_path, capsys):
    from avhubert_ami.cli import decode

    assert decode.main(["--path", str(tmp_path / "no.pt"), "--data", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert decode.main(["--path", "x", "--data", "y", "--modalities", "smell"]) == 2
    assert "modalities" in capsys.readouterr().err


def test_decode_ignores_the_checkpoints_training_noise(tmp_path_factory, tmp_path):
    """A checkpoint trained with noise augmentation keeps it in its task config; decoding must not add it."""
    import torch

    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state
    from avhubert_ami.decoding.split import decode_split

    run_dir = trained_checkpoint(tmp_path_factory)
    data = str(run_dir.parent / "data")
    clean = str(run_dir / "checkpoints" / "checkpoint_best.pt")
    state = load_checkpoint_state(clean)
    state["cfg"]["task"]["noise_prob"] = 1.0
    state["cfg"]["task"]["noise_wav"] = str(tmp_path / "no_such_noise_list.tsv")  # would fail if it were used
    noisy = str(tmp_path / "trained_with_noise.pt")
    torch.save(state, noisy)
    kwargs = dict(beam=2, batch_size=1, max_len_a=1.0, max_len_b=10, cpu=True)
    ours = decode_split(noisy, data, "test", None, **kwargs)
    ref = decode_split(clean, data, "test", None, **kwargs)
    assert [u.hyp for u in ours.utterances] == [u.hyp for u in ref.utterances] and ours.n_utterances == 3
