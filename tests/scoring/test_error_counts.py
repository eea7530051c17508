"""Word and character error counts and rates (avhubert_ami.scoring.wer, no fairseq)."""

import pytest

from avhubert_ami.scoring import text
from avhubert_ami.scoring import wer as scoring


def test_error_counts_words_and_chars():
    assert text.normalize_text("Okay, the  REMOTE's button!") == "okay the remote's button"
    assert scoring.error_counts("the cat sat", "the cat sat on") == (1, 4)
    assert scoring.error_counts("abc", "abd", char_level=True) == (1, 3)
    assert scoring.error_rate(["a b", "c"], ["a b", "d"]) == pytest.approx(100 / 3)
    with pytest.raises(ValueError):
        scoring.error_rate(["a"], ["a", "b"])
