"""Decode a split with a fine-tuned checkpoint; write hypotheses, references and WER/CER as plain files.

    python -m avhubert_ami.decode --path CKPT --data MANIFEST_DIR [--split test] [--modalities audio video]
        [--beam 5] [--batch_size 8] [--results_dir DIR] [--ctc_weight W] [--lm_path LM --lm_weight W]
        [--tune_weights [--ctc_weights 0,0.1,0.3,0.5,0.7,0.9] [--lm_weights 0,0.1,0.2,0.4]]

Writes ``DIR/hypo.txt`` and ``DIR/ref.txt`` (``id<TAB>text``, one utterance a line, same order) and
``DIR/results.json`` (totals + per-utterance errors). References are the raw ``{split}.wrd`` transcripts;
both sides are normalised by :func:`avhubert_ami.text.normalize_text` (``--normalizer basic|kaldi|whisper``)
before scoring. Rows whose manifest lacks a modality are decoded with the modality they have. When utterance
ids carry a meeting and a speaker (AMI ids of ``preprocess.ami_corpus``: ``ES2002a_MEE006_0000050_0000170``),
``results.json`` adds WER/CER per meeting and per speaker.

``--ctc_weight`` (joint CTC/attention search, needs a model with a CTC head) and ``--lm_path/--lm_weight``
(shallow fusion with an ``avhubert-train-lm`` model) change the search. ``--tune_weights`` picks both on the
validation split over a small grid and applies the best to ``--split`` (see :mod:`avhubert_ami.weight_grid`).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from avhubert_ami.modality import parse_modalities
from avhubert_ami.scoring import error_counts
from avhubert_ami.search_flags import add_normalizer_flag, add_search_flags
from avhubert_ami.text import DEFAULT_NORMALIZER
from avhubert_ami.weight_grid import DEFAULT_CTC_WEIGHTS, DEFAULT_LM_WEIGHTS

logger = logging.getLogger("avhubert_ami.decode")


@dataclass
class Utterance:
    """One decoded utterance and its error counts."""

    id: str
    ref: str
    hyp: str
    word_errors: int
    words: int
    char_errors: int
    chars: int


@dataclass
class DecodeResult:
    """Corpus WER/CER (percent) and the per-utterance details."""

    checkpoint: str
    split: str
    modalities: List[str]
    beam: int
    wer: float
    cer: float
    n_utterances: int
    utterances: List[Utterance] = field(default_factory=list)
    ctc_weight: float = 0.0
    lm_path: Optional[str] = None
    lm_weight: float = 0.0
    normalizer: str = DEFAULT_NORMALIZER  # text normaliser both sides went through before scoring
    by_meeting: Dict[str, Dict[str, float]] = field(default_factory=dict)  # AMI ids only
    by_speaker: Dict[str, Dict[str, float]] = field(default_factory=dict)

    def summary(self) -> Dict[str, object]:
        """Totals only (no per-utterance list)."""
        d = asdict(self)
        for key in ("utterances", "by_meeting", "by_speaker"):
            d.pop(key)
        return d


# avhubert_ami.prep.ami_annotations.Segment.uid: MEETING_SPEAKER_START_END (centiseconds, 7 digits)
_AMI_ID = re.compile(r"^(?P<meeting>[A-Z]{2}\d{4}[a-z])_(?P<speaker>[A-Za-z0-9]+)_\d{7}_\d{7}$")


def ami_id_parts(uid: str) -> Optional[Tuple[str, str]]:
    """``(meeting, speaker)`` of an AMI utterance id, or None for ids of another form."""
    m = _AMI_ID.match(uid)
    return (m["meeting"], m["speaker"]) if m else None


def breakdown(utts: Sequence[Utterance]) -> Tuple[Dict[str, Dict[str, float]], Dict[str, Dict[str, float]]]:
    """WER/CER per meeting and per speaker (``{key: {wer, cer, n_utterances, words}}``); both empty unless
    every id is an AMI id."""
    parts = [ami_id_parts(u.id) for u in utts]
    if not utts or any(p is None for p in parts):
        return {}, {}
    out: Tuple[Dict[str, Dict[str, float]], Dict[str, Dict[str, float]]] = ({}, {})
    for k in range(2):
        groups: Dict[str, List[Utterance]] = {}
        for u, p in zip(utts, parts):
            groups.setdefault(p[k], []).append(u)
        for key in sorted(groups):
            g = groups[key]
            words, chars = sum(u.words for u in g), sum(u.chars for u in g)
            out[k][key] = {
                "wer": 100.0 * sum(u.word_errors for u in g) / max(words, 1),
                "cer": 100.0 * sum(u.char_errors for u in g) / max(chars, 1),
                "n_utterances": len(g),
                "words": words,
            }
    return out


def _references(data_dir: str, split: str) -> Dict[str, str]:
    from avhubert_ami.data.manifest import load_split

    manifest, texts = load_split(data_dir, split)
    return {row.id: text for row, text in zip(manifest.rows, texts)}


class SplitDecoder:
    """A checkpoint, its task and one split, loaded once; :meth:`decode` runs the beam search with given weights.

    The weight grid decodes the same split many times: loading the model, the dataset and the LM once per grid
    point cost more than the search itself on the demo's validation split.
    """

    def __init__(
        self,
        checkpoint: str,
        data_dir: str,
        split: str = "test",
        modalities: Optional[Sequence[str]] = None,
        batch_size: int = 8,
        cpu: bool = False,
        lm_path: Optional[str] = None,
        normalizer: str = DEFAULT_NORMALIZER,
    ) -> None:
        import torch
        from fairseq import checkpoint_utils
        from fairseq.dataclass.utils import overwrite_args_by_name

        import avhubert_ami  # noqa: F401  (registers task/models; safe checkpoint loading)

        data_dir = os.path.abspath(data_dir)
        # the checkpoint's task config carries training-time noise augmentation: decode the audio as it is
        overrides = {
            "data": data_dir,
            "label_dir": data_dir,
            "tokenizer_bpe_model": os.path.join(data_dir, "spm.model"),
            "noise_prob": 0.0,
            "noise_wav": None,
        }
        if modalities:
            overrides["modalities"] = list(modalities)
        state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint)
        trained_task_cfg = copy.deepcopy(state["cfg"]["task"])  # before overrides: what the model was trained with
        overwrite_args_by_name(state["cfg"], overrides)
        self.models, self.cfg, self.task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], state=state)
        self.use_cuda = torch.cuda.is_available() and not cpu
        for m in self.models:
            m.eval()
            if self.use_cuda:
                m.cuda()
        # a checkpoint saved before ctc_weight existed has none: 0, as it was trained and validated
        self.default_ctc_weight = float(getattr(self.task.cfg, "ctc_weight", 0.0) or 0.0)
        self.task.load_dataset(split, task_cfg=trained_task_cfg)  # as fairseq-generate: warns on untrained modalities
        self.checkpoint, self.split = checkpoint, split
        self.batch_size, self.lm_path, self.normalizer = batch_size, lm_path, normalizer
        self.refs = _references(data_dir, split)
        self._lm = None

    def _lm_model(self):
        """The ``avhubert-train-lm`` model of ``lm_path``, loaded on first use."""
        if self._lm is None:
            import torch

            from avhubert_ami.tasks.language_model import load_lm

            device = torch.device("cuda" if self.use_cuda else "cpu")
            self._lm = load_lm(self.lm_path, self.task.target_dictionary, self.task.get_label_dir(), device)
        return self._lm

    def decode(
        self,
        beam: int = 5,
        max_len_a: float = 1.0,
        max_len_b: int = 10,
        ctc_weight: Optional[float] = None,
        lm_weight: float = 0.0,
    ) -> DecodeResult:
        """Beam-search the split; ``ctc_weight`` None = the checkpoint's own; the LM only when ``lm_weight`` != 0."""
        import torch
        from fairseq import utils
        from fairseq.dataclass.configs import GenerationConfig
        from tqdm import tqdm

        task = self.task
        ctc_weight = self.default_ctc_weight if ctc_weight is None else float(ctc_weight)
        extra = {"ctc_weight": ctc_weight}
        use_lm = bool(self.lm_path) and lm_weight != 0  # weight 0: decode exactly as without an LM
        if use_lm:
            extra.update(lm_model=self._lm_model(), lm_weight=lm_weight)
        generator = task.build_generator(
            self.models,
            GenerationConfig(beam=beam, max_len_a=max_len_a, max_len_b=max_len_b),
            extra_gen_cls_kwargs=extra,
        )
        generator.context = f"checkpoint {os.path.abspath(self.checkpoint)}"
        itr = task.get_batch_iterator(
            dataset=task.dataset(self.split),
            max_sentences=self.batch_size,
            max_positions=None,
            ignore_invalid_inputs=False,
            required_batch_size_multiple=1,
            num_workers=0,
            disable_iterator_cache=True,  # a fresh pass per decode
        ).next_epoch_itr(shuffle=False)
        tgt_dict = task.target_dictionary
        ignore = {tgt_dict.eos(), tgt_dict.pad(), tgt_dict.bos()}
        utts: List[Utterance] = []
        for sample in tqdm(itr, desc=f"decode {self.split} ({'+'.join(self.cfg.task.modalities)})", leave=False):
            sample = utils.move_to_cuda(sample) if self.use_cuda else sample
            with torch.no_grad():
                hypos = task.inference_step(generator, self.models, sample)
            for i, uid in enumerate(sample["utt_id"]):
                tokens = hypos[i][0]["tokens"].int().cpu()
                hyp = tgt_dict.string(tokens, "sentencepiece", extra_symbols_to_ignore=ignore)
                ref = self.refs[uid]
                we, nw = error_counts(hyp, ref, normalizer=self.normalizer)
                ce, nc = error_counts(hyp, ref, char_level=True, normalizer=self.normalizer)
                utts.append(Utterance(uid, ref, hyp, we, nw, ce, nc))
        if len(utts) != len(self.refs):
            logger.warning(
                "%d of %d utterances of %s were decoded (the others were filtered by the dataset's size limits)",
                len(utts),
                len(self.refs),
                self.split,
            )
        order = {uid: k for k, uid in enumerate(self.refs)}
        utts.sort(key=lambda u: order[u.id])
        words, chars = sum(u.words for u in utts), sum(u.chars for u in utts)
        by_meeting, by_speaker = breakdown(utts)
        return DecodeResult(
            checkpoint=os.path.abspath(self.checkpoint),
            split=self.split,
            modalities=list(self.cfg.task.modalities),
            beam=beam,
            wer=100.0 * sum(u.word_errors for u in utts) / max(words, 1),
            cer=100.0 * sum(u.char_errors for u in utts) / max(chars, 1),
            n_utterances=len(utts),
            utterances=utts,
            ctc_weight=ctc_weight,
            lm_path=os.path.abspath(self.lm_path) if use_lm else None,
            lm_weight=float(lm_weight) if use_lm else 0.0,
            normalizer=self.normalizer,
            by_meeting=by_meeting,
            by_speaker=by_speaker,
        )


def decode_split(
    checkpoint: str,
    data_dir: str,
    split: str = "test",
    modalities: Optional[Sequence[str]] = None,
    beam: int = 5,
    batch_size: int = 8,
    max_len_a: float = 1.0,
    max_len_b: int = 10,
    cpu: bool = False,
    ctc_weight: Optional[float] = None,
    lm_path: Optional[str] = None,
    lm_weight: float = 0.0,
    normalizer: str = DEFAULT_NORMALIZER,
) -> DecodeResult:
    """Beam-search decode ``data_dir/{split}.tsv`` with ``checkpoint`` and score it against the raw transcripts.

    ``ctc_weight``: joint CTC/attention search weight (0 = attention only; None = the checkpoint's
    ``task.ctc_weight``, its validation setting, 0 when it has none); ``lm_path``/``lm_weight``: shallow fusion
    with an ``avhubert-train-lm`` checkpoint (ignored when ``lm_path`` is None or ``lm_weight`` is 0).
    """
    decoder = SplitDecoder(checkpoint, data_dir, split, modalities, batch_size, cpu, lm_path, normalizer)
    return decoder.decode(beam, max_len_a, max_len_b, ctc_weight, lm_weight)


def write_results(result: DecodeResult, results_dir: str) -> None:
    """``hypo.txt``, ``ref.txt`` and ``results.json`` under ``results_dir`` (atomic writes)."""
    from avhubert_ami.data.manifest import atomic_write

    files = {
        "hypo.txt": "".join(f"{u.id}\t{u.hyp}\n" for u in result.utterances),
        "ref.txt": "".join(f"{u.id}\t{u.ref}\n" for u in result.utterances),
        "results.json": json.dumps(asdict(result), indent=1) + "\n",
    }
    for name, text in files.items():
        with atomic_write(os.path.join(results_dir, name)) as f:
            f.write(text)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``python -m avhubert_ami.decode`` / ``avhubert-decode``."""
    p = argparse.ArgumentParser(prog="avhubert-decode", description=__doc__.split("\n\n")[0])
    p.add_argument("--path", required=True, help="fine-tuned av_hubert_seq2seq checkpoint (.pt)")
    p.add_argument("--data", required=True, help="manifest directory ({split}.tsv/.wrd, spm.model, dict.wrd.txt)")
    p.add_argument("--split", default="test", help="split to decode (default: test)")
    p.add_argument(
        "--modalities",
        nargs="+",
        default=None,
        metavar="M",
        help="audio and/or video (space or comma separated; default: what the model was trained with)",
    )
    add_search_flags(p, "utterances")
    p.add_argument(
        "--results_dir", default=None, help="output folder (default: decode_<split>_<modalities> beside the checkpoint)"
    )
    p.add_argument(
        "--tune_weights",
        action="store_true",
        help="choose ctc_weight x lm_weight on --tune_split (never on test), then decode --split with them",
    )
    grid = lambda ws: ",".join(f"{w:g}" for w in ws)  # noqa: E731
    p.add_argument(
        "--ctc_weights",
        default=None,
        help=f"grid for --tune_weights (default {grid(DEFAULT_CTC_WEIGHTS)} with a CTC head)",
    )
    p.add_argument(
        "--lm_weights",
        default=None,
        help=f"grid for --tune_weights (default {grid(DEFAULT_LM_WEIGHTS)} with --lm_path)",
    )
    p.add_argument("--tune_split", default="valid", help="split the weights are tuned on (default: valid)")
    add_normalizer_flag(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: decode, write files, print the totals."""
    from avhubert_ami.cli_errors import USER_ERRORS, configure_logging, report_user_error

    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        mods = parse_modalities(args.modalities)
    except ValueError as e:
        print(f"avhubert-decode: error: {e}", file=sys.stderr)
        return 2
    for what, path in (("--path", args.path), ("--data", os.path.join(args.data, f"{args.split}.tsv"))):
        if not os.path.exists(path):
            print(f"avhubert-decode: error: {what}: {path} does not exist", file=sys.stderr)
            return 2
    # flags that are decode_split keywords of the same name
    same = ("beam", "batch_size", "max_len_a", "max_len_b", "cpu", "lm_path", "normalizer")
    decode_kwargs = dict(modalities=mods, **{name: getattr(args, name) for name in same})
    tuned = None
    try:
        if args.results_dir:  # fail before decoding, not after
            os.makedirs(args.results_dir, exist_ok=True)
        if args.tune_weights:
            from avhubert_ami.weight_grid import grid_values, tune_weights

            grid = grid_values(args.path, args.lm_path, args.ctc_weights, args.lm_weights, args.tune_split, args.split)
            tuned = tune_weights(args.path, args.data, grid, args.tune_split, **decode_kwargs)
            args.ctc_weight, args.lm_weight = tuned.chosen["ctc_weight"], tuned.chosen["lm_weight"]
        result = decode_split(
            args.path, args.data, args.split, ctc_weight=args.ctc_weight, lm_weight=args.lm_weight, **decode_kwargs
        )
        out = args.results_dir or os.path.join(
            os.path.dirname(os.path.abspath(args.path)), f"decode_{args.split}_{'+'.join(result.modalities)}"
        )
        write_results(result, out)
        if tuned is not None:
            tuned.write(out)
    except USER_ERRORS as e:  # refused/unreadable checkpoint, bad manifest row, unwritable dir, bad grid: one line
        return report_user_error("avhubert-decode", e)
    if tuned is not None:
        print(
            f"weights tuned on {args.tune_split}: ctc_weight {args.ctc_weight} lm_weight {args.lm_weight} "
            f"({args.tune_split} WER {tuned.chosen['wer']:.2f}) -> {os.path.join(out, 'weights.json')}"
        )
    print(json.dumps(result.summary()))
    print(
        f"{args.split} ({'+'.join(result.modalities)}): WER {result.wer:.2f} CER {result.cer:.2f} "
        f"({result.normalizer} normalizer) "
        f"on {result.n_utterances} utterances -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
