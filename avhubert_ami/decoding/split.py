"""A split of a manifest folder decoded and scored: :class:`SplitDecoder` on a loaded
:class:`~avhubert_ami.decoding.recognizer.Recognizer`, the :class:`DecodeResult` it returns and its files.

References are the raw ``{split}.wrd`` transcripts; both sides are normalised by
:func:`avhubert_ami.scoring.text.normalize_text` (``basic``, ``kaldi`` or ``whisper``) before scoring. Rows whose
manifest lacks a modality are decoded with the modality they have. When utterance ids carry a meeting and a speaker
(AMI ids of ``avhubert-ami-corpus``: ``ES2002a_MEE006_0000050_0000170``), the result adds WER/CER per meeting and
per speaker. :func:`write_results` writes ``hypo.txt`` and ``ref.txt`` (``id<TAB>text``, one utterance a line,
same order) and ``results.json`` (totals + per-utterance errors): the files of ``avhubert-decode``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

from avhubert_ami.data.utterance_ids import ami_id_parts
from avhubert_ami.decoding.recognizer import Recognizer
from avhubert_ami.decoding.settings import SearchSettings
from avhubert_ami.scoring.text import DEFAULT_NORMALIZER
from avhubert_ami.scoring.wer import error_counts

logger = logging.getLogger(__name__)


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
    precision: Dict[str, object] = field(default_factory=dict)  # decoding.precision: requested, used, note, parts

    def summary(self) -> Dict[str, object]:
        """Totals only (no per-utterance list)."""
        d = asdict(self)
        for key in ("utterances", "by_meeting", "by_speaker"):
            d.pop(key)
        return d


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
    """One split of a manifest folder decoded by a loaded :class:`Recognizer`; :meth:`decode` runs the search with
    given weights, so a weight grid decodes the same split many times with the model, the split and the LM loaded
    once."""

    def __init__(
        self, recognizer: Recognizer, data_dir: str, split: str = "test", normalizer: str = DEFAULT_NORMALIZER
    ) -> None:
        self.recognizer, self.split, self.normalizer = recognizer, split, normalizer
        # as fairseq-generate: warns on modalities the model was not trained with
        recognizer.task.load_dataset(split, task_cfg=recognizer.trained_task_cfg)
        self.refs = _references(os.path.abspath(data_dir), split)

    def decode(self, ctc_weight: Optional[float] = None, lm_weight: Optional[float] = None, **search) -> DecodeResult:
        """Beam-search the split; weights None = the recogniser's settings (``ctc_weight`` None there: the
        checkpoint's own); ``search``: other :class:`SearchSettings` fields (``beam``, ``max_len_a``, ...)."""
        from tqdm import tqdm

        r = self.recognizer
        task = r.task
        batch_size = search.pop("batch_size", r.settings.batch_size)
        itr = task.get_batch_iterator(
            dataset=task.dataset(self.split),
            max_sentences=batch_size,
            max_positions=None,
            ignore_invalid_inputs=False,
            required_batch_size_multiple=1,
            num_workers=0,
            disable_iterator_cache=True,  # a fresh pass per decode
        ).next_epoch_itr(shuffle=False)
        utts: List[Utterance] = []
        for sample in tqdm(itr, desc=f"decode {self.split} ({'+'.join(r.model_modalities)})", leave=False):
            for uid, hyp in zip(sample["utt_id"], r.decode(sample, ctc_weight, lm_weight, **search)):
                ref = self.refs[uid]
                we, nw = error_counts(hyp.text, ref, normalizer=self.normalizer)
                ce, nc = error_counts(hyp.text, ref, char_level=True, normalizer=self.normalizer)
                utts.append(Utterance(uid, ref, hyp.text, we, nw, ce, nc))
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
        used = r.record(ctc_weight, lm_weight)
        return DecodeResult(
            checkpoint=r.checkpoint,
            split=self.split,
            modalities=list(r.model_modalities),
            beam=search.get("beam", r.settings.beam),
            wer=100.0 * sum(u.word_errors for u in utts) / max(words, 1),
            cer=100.0 * sum(u.char_errors for u in utts) / max(chars, 1),
            n_utterances=len(utts),
            utterances=utts,
            ctc_weight=used["ctc_weight"],
            lm_path=used["lm_path"],
            lm_weight=used["lm_weight"],
            normalizer=self.normalizer,
            by_meeting=by_meeting,
            by_speaker=by_speaker,
            precision=used["precision"],
        )


def decode_split(
    checkpoint: str,
    data_dir: str,
    split: str = "test",
    modalities: Optional[Sequence[str]] = None,
    settings: Optional[SearchSettings] = None,
    normalizer: str = DEFAULT_NORMALIZER,
    cpu: bool = False,
    **search,
) -> DecodeResult:
    """Beam-search decode ``data_dir/{split}.tsv`` with ``checkpoint`` and score it against the raw transcripts.

    ``settings``: beam, weights, LM (default :class:`SearchSettings`); ``search``: fields of it to replace
    (``decode_split(ckpt, data, "test", beam=5, ctc_weight=0.5)``)."""
    settings = replace(settings or SearchSettings(), **search)
    recognizer = Recognizer.from_checkpoint(
        checkpoint, settings, data_dir=data_dir, modalities=modalities, device="cpu" if cpu else None
    )
    return SplitDecoder(recognizer, data_dir, split, normalizer).decode()


def write_results(result: DecodeResult, results_dir: str) -> None:
    """``hypo.txt``, ``ref.txt`` and ``results.json`` under ``results_dir`` (atomic writes)."""
    from avhubert_ami.files import atomic_write

    files = {
        "hypo.txt": "".join(f"{u.id}\t{u.hyp}\n" for u in result.utterances),
        "ref.txt": "".join(f"{u.id}\t{u.ref}\n" for u in result.utterances),
        "results.json": json.dumps(asdict(result), indent=1) + "\n",
    }
    for name, text in files.items():
        with atomic_write(os.path.join(results_dir, name)) as f:
            f.write(text)
