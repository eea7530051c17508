"""The `cer` fairseq scorer (registered on import) and sentencepiece post-processing."""

import pytest
from fairseq.scoring import SCORER_REGISTRY, build_scorer

import avhubert_ami  # noqa: F401  (registers the scorers)
from avhubert_ami.scoring.wer import error_rate, sentencepiece_to_text


def test_sentencepiece_to_text():
    assert sentencepiece_to_text("\u2581he llo \u2581world") == "hello world"
    assert sentencepiece_to_text("hello world") == "hello world"
    assert sentencepiece_to_text("") == ""


def test_cer_registered_beside_fairseq_wer():
    assert "cer" in SCORER_REGISTRY and "wer" in SCORER_REGISTRY


@pytest.mark.parametrize("pieces", [False, True])
def test_cer_scorer_matches_error_rate(pieces):
    from omegaconf import OmegaConf

    scorer = build_scorer(OmegaConf.create({"_name": "cer", "cer_keep_case_punct": False}), None)
    refs = ["Hello, world!", "the cat sat"]
    hyps = ["hello word", "the hat sat on"]
    for r, h in zip(refs, hyps):
        if pieces:  # what fairseq-generate passes without --post-process
            r = " ".join("\u2581" + w for w in r.split())
            h = "\u2581hel lo \u2581word" if h == "hello word" else "\u2581the \u2581h at \u2581sat \u2581on"
        scorer.add_string(r, h)
    expected = error_rate(hyps, refs, char_level=True)
    assert scorer.score() == pytest.approx(expected)
    # hello world -> hello word: 1 edit; thecatsat -> thehatsaton: 3 edits; 10 + 9 ref chars
    assert expected == pytest.approx(100 * 4 / 19)
    assert scorer.result_string() == f"CER (basic normalizer): {expected:.2f}"


def test_cer_keep_case_punct_counts_raw_characters():
    from omegaconf import OmegaConf

    scorer = build_scorer(OmegaConf.create({"_name": "cer", "cer_keep_case_punct": True}), None)
    scorer.add_string("Ab", "ab")
    assert scorer.score() == pytest.approx(50.0)


def test_cer_options_reach_fairseq_generate_argparse():
    from fairseq import options

    parser = options.get_generation_parser(default_task="translation")
    args = options.parse_args_and_arch(parser, ["/tmp", "--scoring", "cer", "--cer-keep-case-punct"])
    assert args.scoring == "cer" and args.cer_keep_case_punct is True
