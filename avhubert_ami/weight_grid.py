"""Choose the decoding weights (``ctc_weight`` x ``lm_weight``) on a validation split, never on test.

``avhubert-decode --tune_weights`` decodes ``--tune_split`` (valid) once per grid point, keeps the lowest WER
(ties: the smaller weights, then CER), decodes the requested split with it, and writes ``weights.json``
beside that split's results: the grid with every validation WER/CER and the chosen values.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

logger = logging.getLogger("avhubert_ami.weight_grid")

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
        raise ValueError(f"--{name}: comma-separated numbers expected, got {text!r}") from None
    if not values or any(v < 0 for v in values) or (name == "ctc_weights" and any(v > 1 for v in values)):
        raise ValueError(f"--{name}: need weights >= 0 (ctc_weights <= 1), got {text!r}")
    return values


def _has_ctc_head(checkpoint: str) -> bool:
    from avhubert_ami.models.checkpoint import load_checkpoint_state

    state = load_checkpoint_state(checkpoint)
    model_cfg = (state.get("cfg") or {}).get("model") or {}
    return bool(model_cfg.get("ctc_head", False)) or any(k.startswith("ctc_proj.") for k in state.get("model", {}))


def grid_values(
    checkpoint: str,
    lm_path: Optional[str],
    ctc_weights: Optional[str],
    lm_weights: Optional[str],
    tune_split: str,
    test_split: str,
) -> List[Tuple[float, float]]:
    """The (ctc_weight, lm_weight) pairs to try: defaults fit the model (CTC head?) and whether an LM is given."""
    if tune_split == test_split or tune_split.startswith("test"):
        raise ValueError(f"--tune_split {tune_split}: weights are never tuned on the test split")
    head = _has_ctc_head(checkpoint)
    ctc = parse_weights(ctc_weights, "ctc_weights") if ctc_weights else list(DEFAULT_CTC_WEIGHTS if head else (0.0,))
    if any(ctc) and not head:
        raise ValueError(f"--ctc_weights {ctc_weights}: {checkpoint} has no CTC head (only 0 is possible)")
    lm = parse_weights(lm_weights, "lm_weights") if lm_weights else list(DEFAULT_LM_WEIGHTS if lm_path else (0.0,))
    if any(lm) and not lm_path:
        raise ValueError(f"--lm_weights {lm_weights} needs --lm_path")
    if len(ctc) * len(lm) == 1:
        logger.warning("--tune_weights: a single grid point (%s, %s): nothing to choose", ctc[0], lm[0])
    return [(c, w) for c in ctc for w in lm]


@dataclass
class TunedWeights:
    """Validation results of every grid point and the chosen one."""

    tune_split: str
    grid: List[Dict[str, float]] = field(default_factory=list)
    chosen: Dict[str, float] = field(default_factory=dict)
    normalizer: str = ""  # text normaliser the WERs were scored with (the weights hold for that scoring)
    beam: int = 0
    lm_path: Optional[str] = None

    def write(self, results_dir: str) -> str:
        """``results_dir/weights.json``; returns its path."""
        from avhubert_ami.data.manifest import atomic_write

        path = os.path.join(results_dir, "weights.json")
        with atomic_write(path) as f:
            record = {"tuned_on": self.tune_split, "normalizer": self.normalizer, "beam": self.beam}
            record.update(lm_path=self.lm_path, chosen=self.chosen, grid=self.grid)
            f.write(json.dumps(record, indent=1) + "\n")
        return path


def best_point(points: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """The grid point to keep: lowest WER, then the smaller weights, then the lower CER."""
    return dict(min(points, key=lambda g: (g["wer"], g["ctc_weight"] + g["lm_weight"], g["cer"])))


def joint_and_fused(points: Sequence[Dict[str, float]]) -> Tuple[Dict[str, float], Dict[str, float]]:
    """The point of the joint-search row (best with ``lm_weight`` 0) and of the LM row (best of the whole grid,
    so ``ctc_weight`` is chosen together with ``lm_weight``, and ``lm_weight`` 0 stays a candidate)."""
    no_lm = [p for p in points if p["lm_weight"] == 0]
    if not no_lm:
        raise ValueError("the weight grid needs points with lm_weight 0 (the joint-search row)")
    return best_point(no_lm), best_point(points)


def tune_weights(
    checkpoint: str, data_dir: str, grid: Sequence[Tuple[float, float]], tune_split: str = "valid", **decode_kwargs
) -> TunedWeights:
    """Decode ``tune_split`` at each ``(ctc_weight, lm_weight)`` of ``grid``; the lowest WER wins.

    ``decode_kwargs``: :func:`avhubert_ami.decode.decode_split`'s keywords. The model, the split and the LM are
    loaded once for the whole grid (:class:`avhubert_ami.decode.SplitDecoder`).
    """
    from tqdm import tqdm

    from avhubert_ami.decode import SplitDecoder

    search = {k: decode_kwargs.pop(k) for k in ("beam", "max_len_a", "max_len_b") if k in decode_kwargs}
    decoder = SplitDecoder(checkpoint, data_dir, tune_split, **decode_kwargs)
    lm_path = os.path.abspath(decoder.lm_path) if decoder.lm_path else None
    out = TunedWeights(tune_split, normalizer=decoder.normalizer, lm_path=lm_path)
    for ctc_weight, lm_weight in tqdm(grid, desc=f"weight grid on {tune_split}", unit="point"):
        res = decoder.decode(ctc_weight=ctc_weight, lm_weight=lm_weight, **search)
        out.grid.append({"ctc_weight": ctc_weight, "lm_weight": lm_weight, "wer": res.wer, "cer": res.cer})
        out.beam = res.beam  # the search the weights hold for (decode's default when not given)
        logger.info(
            "%s: ctc_weight %.2f lm_weight %.2f -> WER %.2f CER %.2f",
            tune_split,
            ctc_weight,
            lm_weight,
            res.wer,
            res.cer,
        )
    out.chosen = best_point(out.grid)
    return out
