"""A language model is fused on the recogniser's dictionary only after its own dictionary was checked against it
(issue 24 item 1): the same symbols in another order (or among more) are mapped by symbol and fuse exactly as the LM
on the recogniser's order; a missing symbol is refused in one line -- in avhubert-decode, fairseq-generate and the
Recognizer that transcription builds on. The LMs are untrained (tests/support/lm.py: random_lm, reordered_lm)."""

from __future__ import annotations

import re
import shutil

import pytest
import torch

from tests.support.decoding import README_SEARCH, decode_args, generate_args
from tests.support.lm import random_lm, reordered_lm
from tests.support.training import tiny_data, trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    """``same`` (the recogniser's dictionary), ``shuffled`` (its symbols in another order), ``extra`` (shuffled, 3
    symbols more), ``missing`` (shuffled, 2 symbols fewer): one model, its embedding rows moved with their symbols."""
    base = tmp_path_factory.mktemp("lms")
    data = tiny_data(base / "data")
    same = random_lm(base / "same", data / "dict.wrd.txt")
    return {
        "data": data,
        "same": same,
        "shuffled": reordered_lm(same, base / "shuffled"),
        "extra": reordered_lm(same, base / "extra", extra=3),
        "missing": reordered_lm(same, base / "missing", drop=2),
    }


def _scores(lm, tokens):
    with torch.no_grad():
        return lm.get_normalized_probs(lm(tokens), log_probs=True)


def test_lm_on_reordered_dictionary_scores_the_recognisers_tokens_as_the_original(lms):
    from fairseq.data import Dictionary

    from avhubert_ami.lm.task import RemappedLM, load_lm

    tgt = Dictionary.load(str(lms["data"] / "dict.wrd.txt"))
    tokens = torch.tensor([[tgt.eos(), 5, 9, 6, 12]])
    original = load_lm(str(lms["same"]), tgt, str(lms["data"]))
    shuffled = load_lm(str(lms["shuffled"]), tgt, str(lms["data"]))
    assert not isinstance(original, RemappedLM) and isinstance(shuffled, RemappedLM)
    torch.testing.assert_close(_scores(shuffled, tokens), _scores(original, tokens), atol=1e-5, rtol=0)
    # more symbols than the recogniser: each recogniser symbol gets the LM's score of that symbol
    extra = load_lm(str(lms["extra"]), tgt, str(lms["data"]))
    inner = extra.lm
    own = inner.decoder.dictionary
    to_lm = torch.tensor([own.index(s) for s in tgt.symbols])
    with torch.no_grad():
        want = inner.get_normalized_probs(inner(to_lm[tokens]), log_probs=True)[..., to_lm]
    torch.testing.assert_close(_scores(extra, tokens), want)
    assert len(own) == len(tgt) + 3


def test_lm_missing_recogniser_symbols_is_refused(lms):
    from fairseq.data import Dictionary

    from avhubert_ami.errors import UsageError
    from avhubert_ami.lm.task import load_lm

    tgt = Dictionary.load(str(lms["data"] / "dict.wrd.txt"))
    with pytest.raises(UsageError, match=r"missing/data-bin/dict\.txt \(25 symbols\) lacks 2 of the recogniser's 27"):
        load_lm(str(lms["missing"]), tgt, str(lms["data"]))


def test_lm_moved_without_its_dictionary(lms, tmp_path, caplog):
    """Neither data-bin/ beside it nor its recorded data folder: a size that differs from the recogniser's is refused,
    an equal size is assumed to be the recogniser's order, with a warning that it cannot be checked."""
    from fairseq.data import Dictionary

    from avhubert_ami.errors import UsageError
    from avhubert_ami.lm.task import load_lm

    tgt = Dictionary.load(str(lms["data"] / "dict.wrd.txt"))
    same = random_lm(tmp_path / "same", lms["data"] / "dict.wrd.txt")
    extra = reordered_lm(same, tmp_path / "extra", extra=3)
    for lm in (same, extra):
        shutil.rmtree(lm.parent / "data-bin")  # also the data folder their task configs record
    with pytest.raises(UsageError, match=r"scores 30 symbols but the recogniser's dictionary .* has 27"):
        load_lm(str(extra), tgt, str(lms["data"]))
    with caplog.at_level("WARNING"):
        load_lm(str(same), tgt, str(lms["data"]))
    assert "which cannot be checked" in caplog.text


# ---- through the command lines (the tiny trained recogniser) ---------------------------------------------------
@pytest.fixture(scope="module")
def recogniser(tmp_path_factory):
    run_dir = trained_checkpoint(tmp_path_factory)
    data = run_dir.parent / "data"
    base = tmp_path_factory.mktemp("cli_lms")
    same = random_lm(base / "same", data / "dict.wrd.txt", seed=3)
    return {
        "ckpt": run_dir / "checkpoints" / "checkpoint_best.pt",
        "data": data,
        "same": same,
        "shuffled": reordered_lm(same, base / "shuffled", seed=4),
        "extra": reordered_lm(same, base / "extra", seed=5, extra=2),
        "missing": reordered_lm(same, base / "missing", drop=1),
    }


def _hypotheses(results_dir):
    return (results_dir / "hypo.txt").read_text().splitlines()


def test_avhubert_decode_fuses_a_reordered_lm_as_the_original_and_refuses_a_missing_symbol(
    recogniser, tmp_path, cli_error
):
    from avhubert_ami.cli import decode

    r = recogniser
    search = dict(README_SEARCH, lm_weight=0.5)
    for name in ("same", "shuffled"):
        argv = decode_args(r["ckpt"], r["data"], "--results_dir", str(tmp_path / name), lm_path=r[name], **search)
        assert decode.main(argv) == 0
    plain = decode_args(r["ckpt"], r["data"], "--results_dir", str(tmp_path / "plain"), **README_SEARCH)
    assert decode.main(plain) == 0
    assert _hypotheses(tmp_path / "shuffled") == _hypotheses(tmp_path / "same")
    assert _hypotheses(tmp_path / "same") != _hypotheses(tmp_path / "plain")  # the LM has a say
    rc, line = cli_error(decode.main, decode_args(r["ckpt"], r["data"], lm_path=r["missing"], **search))
    assert rc == 2 and "lacks 1 of the recogniser's 27 symbols" in line and "avhubert-train-lm" in line


def _generate(capsys, argv):
    """fairseq-generate in this process: ``{sentence id: (score, hypothesis)}``."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq_cli import generate

    args = options.parse_args_and_arch(options.get_generation_parser(), [str(a) for a in argv])
    capsys.readouterr()
    generate.main(convert_namespace_to_omegaconf(args))
    out = capsys.readouterr().out
    return {i: (float(score), text) for i, score, text in re.findall(r"^D-(\d+)\t(\S+)\t(.*)$", out, flags=re.M)}


def test_fairseq_generate_checks_the_lms_own_dictionary(recogniser, capsys):
    from avhubert_ami.errors import UsageError

    r = recogniser
    runs = {}
    for name in ("same", "shuffled"):
        argv = generate_args(r["data"], r["ckpt"], "--lm-path", r[name], "--lm-weight", "0.5", **README_SEARCH)
        runs[name] = _generate(capsys, argv)
    assert len(runs["same"]) == 3 and runs["shuffled"].keys() == runs["same"].keys()
    for i, (score, text) in runs["same"].items():
        assert runs["shuffled"][i][1] == text and runs["shuffled"][i][0] == pytest.approx(score, abs=1e-4)
    argv = generate_args(r["data"], r["ckpt"], "--lm-path", r["missing"], "--lm-weight", "0.5", **README_SEARCH)
    with pytest.raises(UsageError, match="lacks 1 of the recogniser's 27 symbols"):
        _generate(capsys, argv)


def test_avhubert_transcribe_maps_an_lm_of_another_size_and_refuses_one_missing_a_symbol(
    recogniser, tmp_path, cli_error
):
    """The size-mismatch traceback of issue 24 item 1: refused before any input is read, or mapped by symbol."""
    import numpy as np

    from avhubert_ami.cli import transcribe
    from avhubert_ami.data.audio import write_audio
    from avhubert_ami.testing.recordings import speech_with_pauses

    r = recogniser
    write_audio(str(tmp_path / "a.wav"), speech_with_pauses([0.4], [30], tail=0.4)[0].astype(np.float32))
    argv = ["--path", str(r["ckpt"]), str(tmp_path / "a.wav"), "--cpu", "--beam", "1", "--lm_weight", "0.5"]
    rc, line = cli_error(transcribe.main, [*argv, "--output_dir", str(tmp_path / "o1"), "--lm_path", str(r["missing"])])
    assert rc == 2 and "lacks 1 of the recogniser's 27 symbols" in line
    assert not (tmp_path / "o1" / "a.json").exists()
    assert transcribe.main([*argv, "--output_dir", str(tmp_path / "o2"), "--lm_path", str(r["extra"])]) == 0
    assert (tmp_path / "o2" / "a.json").is_file()
