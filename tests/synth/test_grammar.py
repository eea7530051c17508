"""The meeting grammar of the synthetic corpus (issue 12 §5): lexicon coverage, lengths, word order,
determinism, and the unstructured mode behind --text_mode words."""

from collections import Counter

import numpy as np
import pytest

from avhubert_ami.cli import synth_ami
from avhubert_ami.synth.ami import SynthConfig
from avhubert_ami.synth.grammar import GRAMMAR, length_range, sample_sentence, sample_text, terminals
from avhubert_ami.synth.lexicon import LEXICON


def _draw(mode, n=2000, seed=0, lo=2, hi=10):
    rng = np.random.default_rng(seed)
    return [sample_text(rng, mode, lo, hi) for _ in range(n)]


def test_grammar_uses_exactly_the_lip_readable_lexicon():
    assert set(terminals()) == set(LEXICON)
    for symbol, rules in GRAMMAR.items():
        for _, rhs in rules:
            assert all(s in GRAMMAR or s in LEXICON for s in rhs), (symbol, rhs)


def test_lengths_span_two_to_ten_words():
    lengths = Counter(len(u) for u in _draw("grammar"))
    assert min(lengths) == 2 and max(lengths) == 10
    assert 3.5 < np.mean(list(lengths.elements())) < 6
    lo, hi = length_range()
    assert lo <= 2 and hi >= 10


def test_word_order_is_structured_unlike_the_words_mode():
    """Fewer distinct bigrams (word order is predictable) and grammatical anchors hold."""
    grammar, words = _draw("grammar"), _draw("words")

    def bigrams(utts):
        return Counter((a, b) for u in utts for a, b in zip(u, u[1:]))

    g, w = bigrams(grammar), bigrams(words)
    assert len(g) < 0.5 * len(w)
    after_should = {b for (a, b) in g if a == "should"}
    assert after_should <= {"design", "finish", "control", "know", "look"}
    assert g[("remote", "control")] > 10


def test_same_seed_same_sentences_and_modes_differ():
    assert _draw("grammar", n=50, seed=3) == _draw("grammar", n=50, seed=3)
    assert _draw("grammar", n=50, seed=3) != _draw("grammar", n=50, seed=4)
    assert _draw("words", n=50, seed=3) != _draw("grammar", n=50, seed=3)


def test_bad_lengths_and_modes_are_rejected(tmp_path, capsys):
    with pytest.raises(ValueError, match="--text_mode words"):
        sample_sentence(np.random.default_rng(0), 20, 30)
    with pytest.raises(ValueError, match="text mode"):
        sample_text(np.random.default_rng(0), "poetry", 2, 5)
    with pytest.raises(ValueError, match="--text_mode"):
        SynthConfig(text_mode="poetry").validate()
    assert synth_ami.main(["--output_dir", str(tmp_path), "--min_words", "20", "--max_words", "30"]) == 2
    assert "meeting grammar" in capsys.readouterr().err
    SynthConfig(text_mode="words", min_words=1, max_words=1).validate()


def test_corpus_transcripts_follow_the_mode(tmp_path):
    tiny = [
        "--n_train",
        "3",
        "--n_valid",
        "1",
        "--n_test",
        "1",
        "--n_speakers",
        "4",
        "--heldout_speakers",
        "1",
        "--workers",
        "1",
        "--quiet",
        "--splits",
        "train",
        "--seed",
        "5",
    ]
    import datasets

    out = {}
    for mode in ("grammar", "words"):
        assert (
            synth_ami.main(["--output_dir", str(tmp_path / mode), "--text_mode", mode, "--max_words", "4", *tiny]) == 0
        )
        out[mode] = list(datasets.load_from_disk(str(tmp_path / mode))["train"]["transcript"])
    rng_ref = [np.random.SeedSequence([5, 0, i]).spawn(4)[0] for i in range(3)]
    assert out["grammar"] == [" ".join(sample_sentence(np.random.default_rng(s), 2, 4)) for s in rng_ref]
    assert out["grammar"] != out["words"]
