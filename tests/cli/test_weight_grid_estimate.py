"""avhubert-decode --tune_weights says, once the first grid point is decoded, how long the grid will take and which
flags shrink it (a 24-point grid took 76 s a point on a loaded machine, and the progress bar's estimate is hidden when
stderr goes to a log)."""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace

from avhubert_ami.decoding.weight_grid import tune_weights


class _Decoder:
    """Stands in for a SplitDecoder: same interface, no model."""

    split, normalizer = "valid", "basic"
    recognizer = SimpleNamespace(settings=SimpleNamespace(lm_path=None))

    def decode(self, ctc_weight, lm_weight, **search):
        return SimpleNamespace(wer=10.0 * ctc_weight, cer=5.0, beam=5)


def test_the_time_left_is_logged_after_the_first_point(caplog):
    grid = [(c, w) for c in (0.0, 0.3, 0.5) for w in (0.0, 0.2)]
    with caplog.at_level(logging.INFO, logger="avhubert_ami.decoding.weight_grid"):
        tuned = tune_weights(_Decoder(), grid)
    assert len(tuned.grid) == 6
    estimates = [r.getMessage() for r in caplog.records if "min left" in r.getMessage()]
    assert len(estimates) == 1
    expected = r"weight grid: 6 points, ~\d+ s each, ~\d+\.\d min left \(fewer --ctc_weights / --lm_weights shrink it\)"
    assert re.fullmatch(expected, estimates[0]), estimates[0]
