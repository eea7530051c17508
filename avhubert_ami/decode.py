"""Decode a split with a fine-tuned checkpoint; write hypotheses, references and WER/CER as plain files.

    python -m avhubert_ami.decode --path CKPT --data MANIFEST_DIR [--split test] [--modalities audio video]
        [--beam 5] [--batch_size 8] [--results_dir DIR]

Writes ``DIR/hypo.txt`` and ``DIR/ref.txt`` (``id<TAB>text``, one utterance a line, same order) and
``DIR/results.json`` (totals + per-utterance errors). References are the raw ``{split}.wrd`` transcripts;
both sides are normalised by :func:`avhubert_ami.scoring.normalize_text` before scoring. Rows whose
manifest lacks a modality are decoded with the modality they have.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from avhubert_ami.scoring import error_counts

logger = logging.getLogger("avhubert_ami.decode")

MODALITIES = ("audio", "video")


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

    def summary(self) -> Dict[str, object]:
        """Totals only (no per-utterance list)."""
        d = asdict(self)
        d.pop("utterances")
        return d


def parse_modalities(values: Optional[Sequence[str]]) -> Optional[List[str]]:
    """``["audio", "video"]``, ``["audio,video"]`` -> sorted unique list; None keeps the checkpoint's."""
    if not values:
        return None
    mods = sorted({m.strip() for v in values for m in v.split(",") if m.strip()})
    bad = [m for m in mods if m not in MODALITIES]
    if bad or not mods:
        raise ValueError(f"modalities must be among {MODALITIES}, got {values}")
    return mods


def _references(data_dir: str, split: str) -> Dict[str, str]:
    from avhubert_ami.data.manifest import load_split

    manifest, texts = load_split(data_dir, split)
    return {row.id: text for row, text in zip(manifest.rows, texts)}


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
) -> DecodeResult:
    """Beam-search decode ``data_dir/{split}.tsv`` with ``checkpoint`` and score it against the raw transcripts."""
    import torch
    from fairseq import checkpoint_utils, utils
    from fairseq.dataclass.configs import GenerationConfig
    from fairseq.dataclass.utils import overwrite_args_by_name
    from tqdm import tqdm

    import avhubert_ami  # noqa: F401  (registers task/models; safe checkpoint loading)

    data_dir = os.path.abspath(data_dir)
    # the checkpoint's task config carries training-time noise augmentation: decode the audio as it is
    overrides = {"data": data_dir, "label_dir": data_dir, "tokenizer_bpe_model": os.path.join(data_dir, "spm.model"),
                 "noise_prob": 0.0, "noise_wav": None}
    if modalities:
        overrides["modalities"] = list(modalities)
    state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint)
    trained_task_cfg = copy.deepcopy(state["cfg"]["task"])  # before overrides: what the model was trained with
    overwrite_args_by_name(state["cfg"], overrides)
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], state=state)
    use_cuda = torch.cuda.is_available() and not cpu
    for m in models:
        m.eval()
        if use_cuda:
            m.cuda()
    task.load_dataset(split, task_cfg=trained_task_cfg)  # as fairseq-generate: warns on untrained modalities
    dataset = task.dataset(split)
    itr = task.get_batch_iterator(
        dataset=dataset, max_sentences=batch_size, max_positions=None, ignore_invalid_inputs=False,
        required_batch_size_multiple=1, num_workers=0,
    ).next_epoch_itr(shuffle=False)
    generator = task.build_generator(models, GenerationConfig(beam=beam, max_len_a=max_len_a, max_len_b=max_len_b))
    tgt_dict = task.target_dictionary
    refs = _references(data_dir, split)
    ignore = {tgt_dict.eos(), tgt_dict.pad(), tgt_dict.bos()}
    utts: List[Utterance] = []
    for sample in tqdm(itr, desc=f"decode {split} ({'+'.join(cfg.task.modalities)})", leave=False):
        sample = utils.move_to_cuda(sample) if use_cuda else sample
        with torch.no_grad():
            hypos = task.inference_step(generator, models, sample)
        for i, uid in enumerate(sample["utt_id"]):
            tokens = hypos[i][0]["tokens"].int().cpu()
            hyp = tgt_dict.string(tokens, "sentencepiece", extra_symbols_to_ignore=ignore)
            ref = refs[uid]
            we, nw = error_counts(hyp, ref)
            ce, nc = error_counts(hyp, ref, char_level=True)
            utts.append(Utterance(uid, ref, hyp, we, nw, ce, nc))
    if len(utts) != len(refs):
        logger.warning("%d of %d utterances of %s were decoded (the others were filtered by the dataset's size "
                       "limits)", len(utts), len(refs), split)
    order = {uid: k for k, uid in enumerate(refs)}
    utts.sort(key=lambda u: order[u.id])
    words, chars = sum(u.words for u in utts), sum(u.chars for u in utts)
    return DecodeResult(
        checkpoint=os.path.abspath(checkpoint), split=split, modalities=list(cfg.task.modalities), beam=beam,
        wer=100.0 * sum(u.word_errors for u in utts) / max(words, 1),
        cer=100.0 * sum(u.char_errors for u in utts) / max(chars, 1),
        n_utterances=len(utts), utterances=utts,
    )


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
    p.add_argument("--modalities", nargs="+", default=None, metavar="M",
                   help="audio and/or video (space or comma separated; default: what the model was trained with)")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--batch_size", type=int, default=8, help="utterances per batch")
    p.add_argument("--max_len_a", type=float, default=1.0, help="max output length = a * frames + b")
    p.add_argument("--max_len_b", type=int, default=10)
    p.add_argument("--results_dir", default=None, help="output folder (default: decode_<split>_<modalities> "
                   "beside the checkpoint)")
    p.add_argument("--cpu", action="store_true", help="decode on CPU even when a GPU is visible")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: decode, write files, print the totals."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(name)s | %(message)s")
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
    from avhubert_ami.cli_errors import USER_ERRORS, report_user_error

    try:
        if args.results_dir:  # fail before decoding, not after
            os.makedirs(args.results_dir, exist_ok=True)
        result = decode_split(args.path, args.data, args.split, mods, args.beam, args.batch_size,
                              args.max_len_a, args.max_len_b, args.cpu)
        out = args.results_dir or os.path.join(
            os.path.dirname(os.path.abspath(args.path)), f"decode_{args.split}_{'+'.join(result.modalities)}")
        write_results(result, out)
    except USER_ERRORS as e:  # refused/unreadable checkpoint, bad manifest row, unwritable results dir: one line
        return report_user_error("avhubert-decode", e)
    print(json.dumps(result.summary()))
    print(f"{args.split} ({'+'.join(result.modalities)}): WER {result.wer:.2f} CER {result.cer:.2f} "
          f"on {result.n_utterances} utterances -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
