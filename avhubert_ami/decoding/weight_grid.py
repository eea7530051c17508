"""Choose the decoding weights (``ctc_weight`` x ``lm_weight``) on a validation split, never on test.

:func:`tune_weights` decodes a split (valid) once per grid point with one loaded
:class:`~avhubert_ami.decoding.split.SplitDecoder`; :class:`TunedWeights` keeps every point's WER/CER and chooses the
lowest WER (ties: the smaller weights, then CER), over the whole grid and among the points without the LM; its
``weights.json`` records the grid, the choices, the normaliser, the beam and the LM. ``avhubert-decode
--tune_weights`` and the demo use it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from avhubert_ami.errors import UsageError

if TYPE_CHECKING:
    from avhubert_ami.decoding.split import SplitDecoder

logger = logging.getLogger(__name__)

# up to 0.9: with an LM the best ctc_weight is higher than without one (the LM complements the conditionally
# independent CTC scores more than the attention decoder, which already models the word order of its transcripts;
# seed-0 demo model, valid WER: ctc 0.5 alone 26.9, ctc 0.5 + lm 0.2 26.5, ctc 0.9 + lm 0.4 23.7)
DEFAULT_CTC_WEIGHTS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
DEFAULT_LM_WEIGHTS = (0.0, 0.1, 0.2, 0.4)


def parse_weights(text: str, name: str) -> List[float]:
    """``"0,0.1,0.3"`` -> sorted unique floats in [0, 1] (a clear error names the flag)."""
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise UsageError(f"--{name}: comma-separated numbers expected, got {text!r}") from None
    if not values or any(v < 0 for v in values) or (name == "ctc_weights" and any(v > 1 for v in values)):
        raise UsageError(f"--{name}: need weights >= 0 (ctc_weights <= 1), got {text!r}")
    return values


def grid_values(
    has_ctc_head: bool,
    lm_path: Optional[str],
    ctc_weights: Optional[str],
    lm_weights: Optional[str],
    tune_split: str,
    decode_split: str,
) -> List[Tuple[float, float]]:
    """The (ctc_weight, lm_weight) pairs to try: defaults fit the model (CTC head?) and whether an LM is given;
    the tuning split must be neither a test split nor the split being decoded."""
    if tune_split.startswith("test"):
        raise UsageError(f"--tune_split {tune_split}: weights are never tuned on a test split")
    if tune_split == decode_split:
        raise UsageError(
            f"--tune_split {tune_split} is the split being decoded (--split {decode_split}): choose the weights on "
            "another split"
        )
    ctc = (
        parse_weights(ctc_weights, "ctc_weights")
        if ctc_weights
        else list(DEFAULT_CTC_WEIGHTS if has_ctc_head else (0.0,))
    )
    if any(ctc) and not has_ctc_head:
        raise UsageError(f"--ctc_weights {ctc_weights}: the model has no CTC head (only 0 is possible)")
    lm = parse_weights(lm_weights, "lm_weights") if lm_weights else list(DEFAULT_LM_WEIGHTS if lm_path else (0.0,))
    if any(lm) and not lm_path:
        raise UsageError(f"--lm_weights {lm_weights} needs --lm_path")
    if len(ctc) * len(lm) == 1:
        logger.warning("--tune_weights: a single grid point (%s, %s): nothing to choose", ctc[0], lm[0])
    return [(c, w) for c in ctc for w in lm]


#: how the two rows' weights are chosen (recorded in weights.json)
METHOD = (
    "grid ctc_weights x lm_weights on the tuning split; chosen: lowest WER of the whole grid; joint: lowest WER with "
    "lm_weight 0; ties to the smaller weights, then the lower CER"
)


@dataclass
class TunedWeights:
    """Validation results of every grid point, and the points chosen from them."""

    tune_split: str
    grid: List[Dict[str, float]] = field(default_factory=list)
    normalizer: str = ""  # text normaliser the WERs were scored with (the weights hold for that scoring)
    beam: int = 0
    lm_path: Optional[str] = None

    @property
    def chosen(self) -> Dict[str, float]:
        """The best point of the whole grid (the LM's weight chosen together with the CTC weight)."""
        return best_point(self.grid)

    @property
    def joint(self) -> Optional[Dict[str, float]]:
        """The best point without the LM (``lm_weight`` 0), None when the grid has none."""
        no_lm = [p for p in self.grid if p["lm_weight"] == 0]
        return best_point(no_lm) if no_lm else None

    def record(self) -> Dict[str, object]:
        """What ``weights.json`` holds of this grid."""
        return {
            "tuned_on": self.tune_split,
            "normalizer": self.normalizer,
            "beam": self.beam,
            "lm_path": self.lm_path,
            "method": METHOD,
            "chosen": self.chosen,
            "joint": self.joint,
            "grid": self.grid,
        }

    def write(self, results_dir: str) -> str:
        """``results_dir/weights.json``; returns its path."""
        return write_weights(os.path.join(results_dir, "weights.json"), self.record())


def write_weights(path: str, record: Dict[str, object]) -> str:
    """Write a weights record (:meth:`TunedWeights.record`, or several of them under one key) atomically."""
    from avhubert_ami.files import atomic_write

    with atomic_write(path) as f:
        f.write(json.dumps(record, indent=1) + "\n")
    return path


def best_point(points: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """The grid point to keep: lowest WER, then the smaller weights, then the lower CER."""
    return dict(min(points, key=lambda g: (g["wer"], g["ctc_weight"] + g["lm_weight"], g["cer"])))


def tune_weights(decoder: "SplitDecoder", grid: Sequence[Tuple[float, float]], **search) -> TunedWeights:
    """Decode the decoder's split at each ``(ctc_weight, lm_weight)`` of ``grid`` (the model, the split and the LM
    loaded once); ``search``: other search settings (``beam``, ...) than the recogniser's. Once the first point is
    decoded, the time the grid will take is logged (the progress bar's estimate is hidden when stderr goes to a log)."""
    import time

    from tqdm import tqdm

    r = decoder.recognizer
    lm_path = os.path.abspath(r.settings.lm_path) if r.settings.lm_path else None
    out = TunedWeights(decoder.split, normalizer=decoder.normalizer, lm_path=lm_path)
    for i, (ctc_weight, lm_weight) in enumerate(tqdm(grid, desc=f"weight grid on {decoder.split}", unit="point")):
        started = time.perf_counter()
        res = decoder.decode(ctc_weight=ctc_weight, lm_weight=lm_weight, **search)
        if i == 0 and len(grid) > 1:
            took = time.perf_counter() - started
            logger.info(
                "weight grid: %d points, ~%.0f s each, ~%.1f min left (fewer --ctc_weights / --lm_weights shrink it)",
                len(grid),
                took,
                took * (len(grid) - 1) / 60,
            )
        out.grid.append({"ctc_weight": ctc_weight, "lm_weight": lm_weight, "wer": res.wer, "cer": res.cer})
        out.beam = res.beam
        logger.info(
            "%s: ctc_weight %.2f lm_weight %.2f -> WER %.2f CER %.2f",
            decoder.split,
            ctc_weight,
            lm_weight,
            res.wer,
            res.cer,
        )
    return out
