"""LM recipe end to end (avhubert-train-lm), fairseq-generate with --lm-path and --ctc-weight, weight tuning."""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch

from tests.support.decoding import README_SEARCH, generate_args, with_ctc_head, without_ctc_head
from tests.support.lm import tiny_lm
from tests.support.processes import run
from tests.support.training import USER_DIR, trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


def test_lm_checkpoint_is_a_fairseq_language_model_on_our_dictionary(tmp_path_factory):
    from fairseq.data import Dictionary

    from avhubert_ami.lm.task import load_lm

    data = trained_checkpoint(tmp_path_factory).parent / "data"
    tgt = Dictionary.load(str(data / "dict.wrd.txt"))
    lm = load_lm(str(tiny_lm(tmp_path_factory)), tgt, str(data))
    out = lm(torch.tensor([[tgt.eos(), 5, 6]]))
    assert lm.get_normalized_probs(out, log_probs=True).shape == (1, 3, len(tgt))
    other = Dictionary.load(str(data / "dict.wrd.txt"))
    other.add_symbol("zzz_not_in_the_lm")
    with pytest.raises(ValueError, match="dictionary"):
        load_lm(str(tiny_lm(tmp_path_factory)), other, str(data))


def test_lm_text_extra_text_held_out_valid_and_bad_bytes(tmp_path_factory, tmp_path):
    from avhubert_ami.lm.train import prepare_text

    data = trained_checkpoint(tmp_path_factory).parent / "data"
    manifest = tmp_path / "m"
    manifest.mkdir()
    for name in ("spm.model", "dict.wrd.txt", "train.wrd"):
        (manifest / name).write_bytes((data / name).read_bytes())
    extra = tmp_path / "extra.txt"
    extra.write_text("the remote control is red\n\nwe need a button\n")
    train, valid = prepare_text(str(manifest), tmp_path / "text", [str(extra)], valid_every=4)
    n_train, n_valid = (len(p.read_text().splitlines()) for p in (train, valid))
    assert (n_train, n_valid) == (6, 2)  # 6 transcripts + 2 extra lines; every 4th held out (no valid.wrd)
    import sentencepiece as spm

    pieces = spm.SentencePieceProcessor(model_file=str(manifest / "spm.model")).encode("we need a button", out_type=str)
    assert " ".join(pieces) in (train.read_text() + valid.read_text()).splitlines()  # what the task feeds the model
    extra.write_bytes(b"fine\n\xff\xfe broken\n")
    with pytest.raises(ValueError, match=r"extra.txt:2: not UTF-8"):
        prepare_text(str(manifest), tmp_path / "text", [str(extra)])


@pytest.mark.parametrize("ctc_weight", [0.0, 0.4])
def test_fairseq_generate_with_lm_and_ctc_weight_matches_decode_module(tmp_path_factory, tmp_path, ctc_weight):
    from avhubert_ami.decoding.split import decode_split

    run_dir = trained_checkpoint(tmp_path_factory)
    data = run_dir.parent / "data"
    ckpt = run_dir / "checkpoints" / "checkpoint_best.pt"
    if ctc_weight:
        ckpt = with_ctc_head(ckpt, tmp_path / "hybrid.pt")
    lm_path = tiny_lm(tmp_path_factory)
    sp = ["--scoring", "wer", "--post-process", "sentencepiece"]
    fusion = ["--ctc-weight", str(ctc_weight), "--lm-path", str(lm_path), "--lm-weight", "0.3"]
    args = generate_args(data, ckpt, *sp, *fusion, **README_SEARCH, required_batch_size_multiple=1)
    p = run([sys.executable, "-m", "fairseq_cli.generate", *args])
    out = p.stdout + p.stderr
    wer = float(re.search(r"Generate test with beam=5: WER: ([0-9.]+)", out).group(1))
    hyps = dict(re.findall(r"^D-(\d+)\t[-0-9.e]+\t(.*)$", out, flags=re.M))
    assert len(hyps) == 3
    # fairseq-generate runs the model as loaded: compare with avhubert-decode at fp32 (its default, auto, may be int8)
    fused = dict(ctc_weight=ctc_weight, lm_path=str(lm_path), lm_weight=0.3, precision="fp32")
    ours = decode_split(str(ckpt), str(data), "test", None, **README_SEARCH, cpu=True, **fused)
    assert ours.ctc_weight == ctc_weight and ours.lm_weight == 0.3 and ours.lm_path == str(lm_path)
    assert sorted(h.strip() for h in hyps.values()) == sorted(u.hyp.strip() for u in ours.utterances)
    assert wer == pytest.approx(ours.wer, abs=0.01)
    plain = decode_split(str(ckpt), str(data), "test", None, **README_SEARCH, cpu=True, precision="fp32")
    assert [u.hyp for u in plain.utterances] != [u.hyp for u in ours.utterances]  # the weights do something


def test_decode_ctc_weight_without_ctc_head_is_a_clear_error(tmp_path_factory, tmp_path):
    from avhubert_ami.cli import decode
    from avhubert_ami.decoding.split import decode_split

    run_dir = trained_checkpoint(tmp_path_factory)
    plain = without_ctc_head(run_dir / "checkpoints" / "checkpoint_best.pt", tmp_path / "attention_only.pt")
    with pytest.raises(ValueError, match="CTC head"):
        decode_split(str(plain), str(run_dir.parent / "data"), "test", beam=2, batch_size=1, cpu=True, ctc_weight=0.3)
    # --tune_weights on such a model only tries ctc_weight 0, and refuses a CTC grid
    assert (
        decode.main(
            [
                "--path",
                str(plain),
                "--data",
                str(run_dir.parent / "data"),
                "--tune_weights",
                "--ctc_weights",
                "0,0.3",
                "--cpu",
            ]
        )
        == 2
    )


def test_tune_weights_on_valid_then_decode_test(tmp_path_factory, tmp_path):
    from avhubert_ami.cli import decode

    run_dir = trained_checkpoint(tmp_path_factory)
    data = run_dir.parent / "data"
    ckpt = with_ctc_head(run_dir / "checkpoints" / "checkpoint_best.pt", tmp_path / "hybrid.pt")
    out = tmp_path / "dec"
    common = [
        "--path",
        str(ckpt),
        "--data",
        str(data),
        "--beam",
        "2",
        "--batch_size",
        "1",
        "--cpu",
        "--lm_path",
        str(tiny_lm(tmp_path_factory)),
    ]
    assert decode.main([*common, "--tune_weights", "--tune_split", "test"]) == 2  # never tune on test
    rc = decode.main(
        [*common, "--tune_weights", "--ctc_weights", "0,0.5", "--lm_weights", "0,0.3", "--results_dir", str(out)]
    )
    assert rc == 0
    tuned = json.loads((out / "weights.json").read_text())
    assert tuned["tuned_on"] == "valid" and len(tuned["grid"]) == 4
    best = min(g["wer"] for g in tuned["grid"])
    assert tuned["chosen"]["wer"] == best
    res = json.loads((out / "results.json").read_text())
    assert res["split"] == "test" and res["ctc_weight"] == tuned["chosen"]["ctc_weight"]
    assert res["lm_weight"] == tuned["chosen"]["lm_weight"]
    # the weights hold for the search and the scoring they were tuned with: both are written beside them
    assert (tuned["normalizer"], tuned["beam"]) == (res["normalizer"], 2) and tuned["lm_path"].endswith(".pt")


def test_lm_task_works_with_fairseqs_argparse_clis(tmp_path):
    """fairseq-train / fairseq-eval-lm build argparse options from the task dataclass (real types needed)."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    for parser, extra in (
        (options.get_training_parser(), ["--arch", "transformer_lm"]),
        (options.get_eval_lm_parser(), []),
    ):
        args = options.parse_args_and_arch(
            parser,
            [str(tmp_path), "--user-dir", str(USER_DIR), "--task", "ami_av_lm", "--sample-break-mode", "eos", *extra],
        )
        cfg = convert_namespace_to_omegaconf(args)
        assert cfg.task._name == "ami_av_lm" and cfg.task.sample_break_mode == "eos" and cfg.task.seed == 1


def test_decode_defaults_to_the_checkpoints_ctc_weight(tmp_path_factory, tmp_path):
    """No ctc_weight given: the checkpoint's own task.ctc_weight (its validation setting); 0 is attention only."""
    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state
    from avhubert_ami.decoding.split import decode_split

    run_dir = trained_checkpoint(tmp_path_factory)
    data = str(run_dir.parent / "data")
    hybrid = with_ctc_head(run_dir / "checkpoints" / "checkpoint_best.pt", tmp_path / "hybrid.pt")
    state = load_checkpoint_state(str(hybrid))
    state["cfg"]["task"]["ctc_weight"] = 0.4
    torch.save(state, hybrid)
    kw = dict(beam=3, batch_size=1, max_len_a=1.0, max_len_b=10, cpu=True)
    default = decode_split(str(hybrid), data, "test", **kw)
    explicit = decode_split(str(hybrid), data, "test", ctc_weight=0.4, **kw)
    attention = decode_split(str(hybrid), data, "test", ctc_weight=0.0, **kw)
    assert default.ctc_weight == 0.4 and attention.ctc_weight == 0.0
    assert [u.hyp for u in default.utterances] == [u.hyp for u in explicit.utterances]
    assert [u.hyp for u in default.utterances] != [u.hyp for u in attention.utterances]


def test_one_loaded_decoder_decodes_each_weight_pair_as_a_fresh_decode(tmp_path_factory, tmp_path):
    """The weight grid loads model, split and LM once: no state may leak from one weight pair to the next."""
    from avhubert_ami.decoding.recognizer import Recognizer
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.decoding.split import SplitDecoder, decode_split

    run_dir = trained_checkpoint(tmp_path_factory)
    data = str(run_dir.parent / "data")
    ckpt = str(with_ctc_head(run_dir / "checkpoints" / "checkpoint_best.pt", tmp_path / "hybrid.pt"))
    lm = str(tiny_lm(tmp_path_factory))
    recognizer = Recognizer.from_checkpoint(ckpt, SearchSettings(batch_size=2, lm_path=lm), data_dir=data, device="cpu")
    decoder = SplitDecoder(recognizer, data, "test")
    for ctc_weight, lm_weight in ((0.5, 0.3), (0.0, 0.0), (0.5, 0.0), (0.0, 0.3), (0.5, 0.3)):
        once = decoder.decode(beam=3, ctc_weight=ctc_weight, lm_weight=lm_weight)
        fresh = decode_split(
            ckpt, data, "test", beam=3, batch_size=2, cpu=True, ctc_weight=ctc_weight, lm_path=lm, lm_weight=lm_weight
        )
        assert [u.hyp for u in once.utterances] == [u.hyp for u in fresh.utterances]
        assert (once.wer, once.ctc_weight, once.lm_weight, once.lm_path) == (
            fresh.wer,
            fresh.ctc_weight,
            fresh.lm_weight,
            fresh.lm_path,
        )
