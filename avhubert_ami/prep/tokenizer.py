"""Train the sentencepiece model and fairseq dictionary of a manifest folder (:func:`train_tokenizer`; its CLI
is ``avhubert-tokenizer``).

Reads ``DIR/train.wrd`` and writes ``DIR/spm.model`` (+ ``spm.vocab``) and ``DIR/dict.wrd.txt``
(fairseq format: every piece except ``<s> <pad> </s> <unk>`` -- fairseq adds those itself -- with
its count over the encoded training transcripts). The ``.wrd`` files stay raw text: the task
encodes them with ``tokenizer_bpe_model=DIR/spm.model`` at load time. The vocabulary is capped to
what the text supports; training is deterministic (one thread, fixed seed, no sampling).
"""

from __future__ import annotations

import collections
import io
import os
import re
from typing import Any, List, Tuple

from avhubert_ami.data import manifest as mf
from avhubert_ami.errors import PreparationError
from avhubert_ami.files import write_if_changed
from avhubert_ami.prep.runtime.locking import output_lock

# Ids as upstream gen_subword.py / fairseq Dictionary: <s>=0 <pad>=1 </s>=2 <unk>=3.
SPECIALS = {"bos": ("<s>", 0), "pad": ("<pad>", 1), "eos": ("</s>", 2), "unk": ("<unk>", 3)}
_TOO_LARGE = re.compile(r"Vocabulary size too high.*?value <= (\d+)", re.S)
_TOO_SMALL = re.compile(r"Vocabulary size is smaller than required_chars\. \d+ vs (\d+)")


def _train(lines: List[str], vocab_size: int, model_type: str) -> bytes:
    """Serialized model; trained from memory so no temporary path ends up in the model."""
    import sentencepiece as spm

    model = io.BytesIO()
    kwargs = dict(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=1.0,
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        seed_sentencepiece_size=1000000,
        hard_vocab_limit=True,
        minloglevel=2,
        **{f"{k}_id": i for k, (_, i) in SPECIALS.items()},
        **{f"{k}_piece": s for k, (s, _) in SPECIALS.items()},
    )
    spm.SentencePieceTrainer.train(**kwargs)
    return model.getvalue()


MODEL_TYPES = ("unigram", "bpe", "char", "word")


def train_tokenizer(
    manifest_dir: str, vocab_size: int = 1000, model_type: str = "unigram", *, wait: bool = False
) -> Tuple[int, bool]:
    """Train ``spm.model`` on ``train.wrd`` and write ``dict.wrd.txt``, holding the folder's output lock (``wait``:
    queue behind another run writing there instead of raising).

    Returns ``(vocab size actually used, whether any file changed)``. When the text cannot support
    ``vocab_size`` pieces, the largest size sentencepiece accepts is used instead; when it is
    below the number of distinct characters (+ specials), that minimum is used. Raises
    :class:`PreparationError` for a missing, unfinished or empty ``train.wrd`` or an impossible ``vocab_size``.
    """
    if vocab_size < len(SPECIALS) + 1:
        raise PreparationError(f"--vocab_size must be > {len(SPECIALS)} (the special symbols), got {vocab_size}")
    if model_type not in MODEL_TYPES:
        raise PreparationError(f"model_type {model_type!r}: expected one of {', '.join(MODEL_TYPES)}")
    with output_lock(manifest_dir, wait, create=False):  # not while a run writes there
        return _train_locked(manifest_dir, vocab_size, model_type)


def _train_locked(manifest_dir: str, vocab_size: int, model_type: str) -> Tuple[int, bool]:
    wrd = os.path.join(manifest_dir, "train.wrd")
    mf.check_complete(manifest_dir, "train")  # a partial train split must not shape the vocabulary
    if not os.path.isfile(wrd):
        raise PreparationError(
            f"{wrd}: missing -- run a preparation command line (avhubert-hf-to-manifest, avhubert-ami-corpus) first"
        )
    lines = [line for line in mf.read_wrd(wrd, allow_empty=True) if line.strip()]
    if not lines:
        raise PreparationError(f"{wrd}: no non-empty transcripts to train a tokenizer on")
    size = vocab_size
    if model_type in ("char", "word"):
        size = min(size, _closed_vocab_size(lines, model_type))
    for _ in range(3):
        try:
            blob = _train(lines, size, model_type)
            break
        except RuntimeError as e:
            big, small = _TOO_LARGE.search(str(e)), _TOO_SMALL.search(str(e))
            if big and int(big.group(1)) < size:
                size = int(big.group(1))
                print(f"note: {wrd} supports at most {size} pieces; using --vocab_size {size}", flush=True)
            elif small and int(small.group(1)) > size:
                size = int(small.group(1))
                print(f"note: {wrd} has more characters than --vocab_size allows; using {size}", flush=True)
            else:
                raise
    model = os.path.join(manifest_dir, "spm.model")
    changed = write_if_changed(model, lambda p: _write_bytes(p, blob))
    sp = _processor(model)
    vocab = "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.get_piece_size()))
    changed |= write_if_changed(model[: -len(".model")] + ".vocab", lambda p: _write_bytes(p, vocab.encode()))
    entries = piece_counts(model, lines)
    changed |= write_if_changed(os.path.join(manifest_dir, "dict.wrd.txt"), lambda p: mf.write_dict(p, entries))
    return size, changed


def _closed_vocab_size(lines: List[str], model_type: str) -> int:
    units = set("".join(lines).replace(" ", "")) if model_type == "char" else {w for ln in lines for w in ln.split()}
    return len(units) + len(SPECIALS) + 1  # + the word-boundary piece


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _processor(model: str) -> Any:
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=model)


def piece_counts(model: str, lines: List[str]) -> List[Tuple[str, int]]:
    """``[(piece, count over lines)]`` in model id order, specials excluded (fairseq dict entries)."""
    sp = _processor(model)
    counts = collections.Counter(p for line in lines for p in sp.encode(line, out_type=str))
    specials = {s for s, _ in SPECIALS.values()}
    return [
        (sp.id_to_piece(i), counts.get(sp.id_to_piece(i), 0))
        for i in range(sp.get_piece_size())
        if sp.id_to_piece(i) not in specials
    ]
