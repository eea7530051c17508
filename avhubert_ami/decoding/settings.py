"""How a fine-tuned model searches: :class:`SearchSettings`, the one home of the search defaults, and the flags that
expose them (declared once for every command that decodes: ``avhubert-decode``, ``avhubert-transcribe``, the meeting
transcriber), plus the scoring normaliser flag.

Beam search (``--beam``, ``--batch_size``, ``--max_len_a``/``--max_len_b``), joint CTC/attention and LM fusion
weights (``--ctc_weight``, ``--lm_path``, ``--lm_weight``), ``--cpu``, ``--precision`` (:mod:`.precision`), and
``--normalizer``: the same names, defaults and meanings everywhere. No fairseq here (``--help`` answers without it).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Optional

from avhubert_ami.decoding.precision import PRECISIONS
from avhubert_ami.errors import UsageError
from avhubert_ami.scoring.text import DEFAULT_NORMALIZER, NORMALIZERS


@dataclass
class SearchSettings:
    """Beam search and score fusion of one decoding run (recorded in every result file)."""

    beam: int = 5
    max_len_a: float = 1.0  # max output length = a * frames + b
    max_len_b: int = 10
    batch_size: int = 8  # utterances (or segments) decoded together
    ctc_weight: Optional[float] = None  # joint search (1-w)*attention + w*CTC; None = the checkpoint's task.ctc_weight
    lm_path: Optional[str] = None  # avhubert-train-lm checkpoint for shallow fusion
    lm_weight: float = 0.0  # shallow-fusion weight of lm_path (0 = decode exactly as without an LM)
    precision: str = "auto"  # fp32 | bf16 | int8 | auto (decoding.precision: the fastest that keeps the WER)

    def check(self) -> "SearchSettings":
        """Refuse values a search cannot use, naming the flag (before any model is loaded); returns self."""
        if self.beam < 1:
            raise UsageError(f"--beam {self.beam}: the beam must hold at least 1 hypothesis")
        if self.batch_size < 1:
            raise UsageError(f"--batch_size {self.batch_size}: at least 1")
        if self.max_len_a < 0 or (self.max_len_a == 0 and self.max_len_b < 1):
            raise UsageError(
                f"--max_len_a {self.max_len_a} --max_len_b {self.max_len_b}: the longest output (a * frames + b) "
                "must allow at least one token"
            )
        if self.ctc_weight is not None and not 0.0 <= self.ctc_weight <= 1.0:
            raise UsageError(f"--ctc_weight {self.ctc_weight}: must be in [0, 1] (0 = attention-only search)")
        if self.lm_weight < 0:
            raise UsageError(f"--lm_weight {self.lm_weight}: must be >= 0")
        if self.lm_weight and not self.lm_path:
            raise UsageError(f"--lm_weight {self.lm_weight} needs --lm_path (the language model to fuse)")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision {self.precision}: must be one of {', '.join(PRECISIONS)}")
        return self

    @property
    def uses_lm(self) -> bool:
        """True when an LM is fused (a path and a weight other than 0)."""
        return bool(self.lm_path) and self.lm_weight != 0

    def record(self, ctc_weight: float) -> Dict[str, Any]:
        """The settings as recorded in result files, with the CTC weight actually used."""
        out = asdict(self)
        out["ctc_weight"] = float(ctc_weight)
        if not self.uses_lm:
            out.update(lm_path=None, lm_weight=0.0)
        return out

    @classmethod
    def from_args(cls, args: argparse.Namespace, tuning: bool = False) -> "SearchSettings":
        """The settings of parsed :func:`add_search_flags` flags, checked. ``--lm_path`` needs ``--lm_weight``
        (and ``--lm_weight`` needs ``--lm_path``) unless ``tuning``: a weight grid chooses it."""
        if args.lm_path and args.lm_weight is None and not tuning:
            raise UsageError(
                f"--lm_path {args.lm_path} needs --lm_weight (e.g. 0.2; choose it on the validation split with "
                "avhubert-decode --tune_weights)"
            )
        values = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
        return cls(**values).check()


def add_search_flags(p: argparse.ArgumentParser, batch_unit: str) -> None:
    """Beam search, CTC/LM weights, ``--cpu`` and ``--precision``; ``batch_unit`` names what a batch holds (e.g.
    "utterances"). Defaults come from :class:`SearchSettings`."""
    d = SearchSettings()
    g = p.add_argument_group("search")
    g.add_argument("--beam", type=int, default=d.beam, help="beam size of the search")
    g.add_argument("--batch_size", type=int, default=d.batch_size, help=f"{batch_unit} decoded together")
    g.add_argument("--max_len_a", type=float, default=d.max_len_a, help="max output length = a * frames + b")
    g.add_argument("--max_len_b", type=int, default=d.max_len_b, help="see --max_len_a")
    g.add_argument(
        "--ctc_weight",
        type=float,
        default=None,
        help="joint CTC/attention search: (1-w)*attention + w*CTC (needs a CTC head; 0 = attention only; "
        "default: the checkpoint's task.ctc_weight, 0 if it has none)",
    )
    g.add_argument("--lm_path", default=None, help="language model from avhubert-train-lm (its checkpoint_best.pt)")
    g.add_argument(
        "--lm_weight", type=float, default=None, help="shallow-fusion weight of --lm_path (needed with --lm_path)"
    )
    g.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is visible")
    g.add_argument(
        "--precision",
        default=d.precision,
        choices=PRECISIONS,
        help="inference precision: fp32 (the model's arithmetic, CPU front-end prepared), int8 (CPU: int8 encoder "
        "layers), bf16 (CPUs "
        "with avx512_bf16/AMX, GPUs), auto (the fastest that keeps the WER: int8 on x86 CPUs, else fp32); an "
        "unsupported one falls back to fp32 with a note in the result files",
    )


def add_normalizer_flag(p: argparse.ArgumentParser) -> None:
    """``--normalizer``: the text normaliser applied to hypotheses and references before scoring."""
    p.add_argument(
        "--normalizer",
        default=DEFAULT_NORMALIZER,
        choices=NORMALIZERS,
        help="text normaliser before scoring: basic (lower case, no punctuation), kaldi (AMI recipes: upper "
        "case, hyphens as spaces, filled pauses scored), whisper (Open ASR Leaderboard)",
    )
