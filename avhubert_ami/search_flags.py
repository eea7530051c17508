"""The decoding flags that ``avhubert-decode`` and ``avhubert-transcribe`` share, declared once.

Beam search (``--beam``, ``--batch_size``, ``--max_len_a``/``--max_len_b``), joint CTC/attention and LM fusion
weights (``--ctc_weight``, ``--lm_path``, ``--lm_weight``), ``--cpu`` and the scoring normaliser
(``--normalizer``): the same names, defaults and meanings in both command lines.
"""

from __future__ import annotations

import argparse

from avhubert_ami.text import DEFAULT_NORMALIZER, NORMALIZERS


def add_search_flags(p: argparse.ArgumentParser, batch_unit: str) -> None:
    """Beam search, CTC/LM weights and ``--cpu``; ``batch_unit`` names what a batch holds (e.g. "utterances")."""
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--batch_size", type=int, default=8, help=f"{batch_unit} decoded together")
    p.add_argument("--max_len_a", type=float, default=1.0, help="max output length = a * frames + b")
    p.add_argument("--max_len_b", type=int, default=10)
    p.add_argument(
        "--ctc_weight",
        type=float,
        default=None,
        help="joint CTC/attention search: (1-w)*attention + w*CTC (needs a CTC head; 0 = attention only; "
        "default: the checkpoint's task.ctc_weight, 0 if it has none)",
    )
    p.add_argument("--lm_path", default=None, help="language model from avhubert-train-lm (checkpoint_best.pt)")
    p.add_argument("--lm_weight", type=float, default=0.0, help="shallow-fusion weight of --lm_path")
    p.add_argument("--cpu", action="store_true", help="run on CPU even when a GPU is visible")


def add_normalizer_flag(p: argparse.ArgumentParser) -> None:
    """``--normalizer``: the text normaliser applied to hypotheses and references before scoring."""
    p.add_argument(
        "--normalizer",
        default=DEFAULT_NORMALIZER,
        choices=NORMALIZERS,
        help="text normaliser before scoring: basic (lower case, no punctuation), kaldi (AMI recipes: upper "
        "case, hyphens as spaces, filled pauses scored), whisper (Open ASR Leaderboard)",
    )
