"""Decode a split of a manifest folder with a fine-tuned checkpoint; write hypotheses, references and WER/CER.

    avhubert-decode --path CKPT --data MANIFEST_DIR [--split test] [--modalities audio video]
        [--beam 5] [--batch_size 8] [--results_dir DIR] [--ctc_weight W] [--lm_path LM --lm_weight W]
        [--tune_weights [--ctc_weights 0,0.1,0.3,0.5,0.7,0.9] [--lm_weights 0,0.1,0.2,0.4]]

Writes ``DIR/hypo.txt`` and ``DIR/ref.txt`` (``id<TAB>text``, one utterance a line, same order) and
``DIR/results.json`` (totals, per-utterance errors, the search settings used; per meeting and per speaker for AMI
ids); ``DIR`` defaults to ``decode_<split>_<modalities>`` in the current folder. References are the raw
``{split}.wrd`` transcripts, both sides normalised by ``--normalizer`` before scoring.

``--ctc_weight`` (joint CTC/attention search; needs a model with a CTC head) and ``--lm_path`` with ``--lm_weight``
(shallow fusion with an ``avhubert-train-lm`` model) change the search. ``--tune_weights`` decodes ``--tune_split``
(valid) once per point of the grid ``--ctc_weights`` x ``--lm_weights`` -- with the defaults 6 x 4 = 24 decodes of
that split; give fewer weights to shrink it -- keeps the lowest WER and decodes ``--split`` with it; the grid and
the choice go to ``DIR/weights.json``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Optional, Sequence

from avhubert_ami.cli.boundary import command_parser, configure_logging, run_main
from avhubert_ami.data.modality import parse_modalities
from avhubert_ami.decoding.settings import SearchSettings, add_normalizer_flag, add_search_flags
from avhubert_ami.decoding.weight_grid import DEFAULT_CTC_WEIGHTS, DEFAULT_LM_WEIGHTS
from avhubert_ami.errors import UsageError

PROG = "avhubert-decode"
logger = logging.getLogger(__name__)


def build_parser():
    """Command-line options of ``avhubert-decode``."""
    p = command_parser(PROG, __doc__)
    p.add_argument("--path", required=True, help="fine-tuned av_hubert_seq2seq checkpoint (.pt)")
    p.add_argument("--data", required=True, help="manifest directory ({split}.tsv/.wrd, spm.model, dict.wrd.txt)")
    p.add_argument("--split", default="test", help="split to decode")
    p.add_argument(
        "--modalities",
        nargs="+",
        default=None,
        metavar="M",
        help="audio and/or video (space or comma separated; default: what the model was trained with)",
    )
    add_search_flags(p, "utterances")
    p.add_argument("--results_dir", default=None, help="output folder (default: ./decode_<split>_<modalities>)")
    g = p.add_argument_group("weight grid")
    g.add_argument(
        "--tune_weights",
        action="store_true",
        help="choose ctc_weight x lm_weight on --tune_split (never on test), then decode --split with them",
    )
    grid = lambda ws: ",".join(f"{w:g}" for w in ws)  # noqa: E731
    g.add_argument(
        "--ctc_weights",
        default=None,
        help=f"grid for --tune_weights (default {grid(DEFAULT_CTC_WEIGHTS)} with a CTC head, else 0)",
    )
    g.add_argument(
        "--lm_weights",
        default=None,
        help=f"grid for --tune_weights (default {grid(DEFAULT_LM_WEIGHTS)} with --lm_path, else 0)",
    )
    g.add_argument("--tune_split", default="valid", help="split the weights are tuned on")
    add_normalizer_flag(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: decode, write files, print the totals."""
    args = build_parser().parse_args(argv)
    configure_logging()
    return run_main(PROG, lambda: decode(args))


def decode(args) -> int:
    """The work of :func:`main` on parsed flags."""
    mods = parse_modalities(args.modalities)
    for what, path in (("--path", args.path), ("--data", os.path.join(args.data, f"{args.split}.tsv"))):
        if not os.path.exists(path):
            raise UsageError(f"{what}: {path} does not exist")
    settings = SearchSettings.from_args(args, tuning=args.tune_weights)
    if args.results_dir:  # fail before decoding, not after
        try:
            os.makedirs(args.results_dir, exist_ok=True)
        except OSError as err:
            raise UsageError(f"--results_dir {args.results_dir}: cannot create it ({err.strerror or err})") from err

    from avhubert_ami.decoding.recognizer import Recognizer
    from avhubert_ami.decoding.split import SplitDecoder, write_results

    recognizer = Recognizer.from_checkpoint(
        args.path, settings, data_dir=args.data, modalities=mods, device="cpu" if args.cpu else None
    )
    tuned, weights = None, {}
    if args.tune_weights:
        from avhubert_ami.decoding.weight_grid import grid_values, tune_weights

        has_head = all(getattr(m, "has_ctc_head", False) for m in recognizer.models)
        grid = grid_values(has_head, args.lm_path, args.ctc_weights, args.lm_weights, args.tune_split, args.split)
        logger.info(
            "weight grid: %d point(s) (%d ctc x %d lm weights), each a decode of %s "
            "(--ctc_weights / --lm_weights shrink it)",
            len(grid),
            len({c for c, _ in grid}),
            len({w for _, w in grid}),
            args.tune_split,
        )
        tuned = tune_weights(SplitDecoder(recognizer, args.data, args.tune_split, args.normalizer), grid)
        weights = {k: tuned.chosen[k] for k in ("ctc_weight", "lm_weight")}
    result = SplitDecoder(recognizer, args.data, args.split, args.normalizer).decode(**weights)
    out = args.results_dir or os.path.abspath(f"decode_{args.split}_{'+'.join(result.modalities)}")
    write_results(result, out)
    if tuned is not None:
        tuned.write(out)
        print(
            f"weights tuned on {args.tune_split}: ctc_weight {result.ctc_weight:g} lm_weight {result.lm_weight:g} "
            f"({args.tune_split} WER {tuned.chosen['wer']:.2f}) -> {os.path.join(out, 'weights.json')}"
        )
    print(json.dumps(result.summary()))
    print(
        f"{args.split} ({'+'.join(result.modalities)}): WER {result.wer:.2f} CER {result.cer:.2f} "
        f"({result.normalizer} normalizer) on {result.n_utterances} utterances -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
