"""How the weight grid (avhubert_ami.decoding.weight_grid) chooses ctc_weight and lm_weight on valid: the rule that
avhubert-decode --tune_weights and the demo share."""

from avhubert_ami.decoding import weight_grid
from avhubert_ami.decoding.weight_grid import TunedWeights, best_point


def test_best_point_tie_rule():
    pts = [
        {"ctc_weight": 0.3, "lm_weight": 0.2, "wer": 10.0, "cer": 5.0},
        {"ctc_weight": 0.3, "lm_weight": 0.0, "wer": 10.0, "cer": 6.0},
        {"ctc_weight": 0.3, "lm_weight": 0.4, "wer": 12.0, "cer": 1.0},
    ]
    assert best_point(pts)["lm_weight"] == 0.0  # equal WER: the smaller weights win


def test_lm_row_chooses_its_ctc_weight_together_with_the_lm():
    """The LM's point is the best of the whole ctc x lm grid, not the best lm_weight at the joint point's ctc_weight
    (on the demo the LM's best partner is a higher ctc_weight than the best one without LM)."""
    wer = {(0.5, 0.0): 26.9, (0.9, 0.0): 33.5, (0.5, 0.2): 26.5, (0.9, 0.2): 24.9, (0.9, 0.4): 23.7}
    pts = [{"ctc_weight": c, "lm_weight": w, "wer": v, "cer": v} for (c, w), v in wer.items()]
    tuned = TunedWeights("valid", pts)
    assert (tuned.joint["ctc_weight"], tuned.joint["lm_weight"]) == (0.5, 0.0)
    assert (tuned.chosen["ctc_weight"], tuned.chosen["lm_weight"]) == (0.9, 0.4)  # two-stage tuning: (0.5, 0.2)
    useless_lm = [p for p in pts if p["lm_weight"] == 0] + [{"ctc_weight": 0.5, "lm_weight": 0.2, "wer": 30, "cer": 1}]
    useless = TunedWeights("valid", useless_lm)
    assert useless.chosen == useless.joint == tuned.joint  # an LM that never helps: its row is the joint one
    assert TunedWeights("valid", pts[2:]).joint is None
    record = tuned.record()
    assert (record["chosen"], record["joint"], record["grid"]) == (tuned.chosen, tuned.joint, pts)


def test_default_grid_reaches_ctc_weight_0_9():
    from avhubert_ami.cli.decode import build_parser

    assert weight_grid.DEFAULT_CTC_WEIGHTS == (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
    grid = weight_grid.grid_values(True, "lm.pt", None, None, "valid", "test")
    assert len(grid) == 6 * 4 and (0.9, 0.4) in grid and (0.7, 0.0) in grid
    assert "0,0.1,0.3,0.5,0.7,0.9" in build_parser().format_help()
