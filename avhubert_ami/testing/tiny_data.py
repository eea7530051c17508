"""A tiny generated audio-visual data folder for tests and benchmarks.

``make_tiny_split(dir)`` writes a complete, upstream-compatible data folder:
``{split}.tsv`` + ``{split}.wrd`` + 25 fps 96x96 gray FFV1 videos + 16 kHz mono wavs +
``spm.model`` + ``dict.wrd.txt``. Everything is deterministic given ``seed``.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Sequence

from avhubert_ami.data.audio import write_audio
from avhubert_ami.data.constants import SAMPLES_PER_FRAME
from avhubert_ami.data.manifest import write_dict, write_tsv, write_wrd
from avhubert_ami.data.video import write_video
from avhubert_ami.testing.media import make_frames, make_wave

SENTENCES = [
    "okay so the remote control",
    "we need a good design",
    "the button is too small",
    "yes that is right",
    "so the cost is low",
    "i think we can do it",
    "the meeting is over",
    "no we need more buttons",
    "good idea so yes",
    "right so the design is done",
]


def train_spm(folder: str, sentences: Iterable[str], vocab_size: int = 24) -> str:
    """Train a tiny unigram sentencepiece model; write ``spm.model`` and ``dict.wrd.txt``; return the model path."""
    import sentencepiece as spm

    os.makedirs(folder, exist_ok=True)
    text = os.path.join(folder, "spm_train.txt")
    sentences = list(sentences)
    with open(text, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    prefix = os.path.join(folder, "spm")
    spm.SentencePieceTrainer.train(
        input=text,
        model_prefix=prefix,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    counts: Dict[str, int] = {}
    for s in sentences:
        for piece in sp.encode(s, out_type=str):
            counts[piece] = counts.get(piece, 0) + 1
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not sp.is_unknown(i) and not sp.is_control(i)]
    write_dict(os.path.join(folder, "dict.wrd.txt"), [(p, counts.get(p, 1)) for p in pieces])
    os.unlink(text)
    return prefix + ".model"


def make_tiny_split(
    folder: str,
    n: int = 4,
    split: str = "train",
    seed: int = 0,
    frames: Sequence[int] = (20, 28, 36, 44),
    missing: Optional[Dict[int, str]] = None,
    sentences: Optional[List[str]] = None,
    tokenizer: bool = True,
    video_ext: str = ".mkv",
) -> List[str]:
    """Write ``n`` utterances of ``split`` under ``folder`` (tsv/wrd/media, + spm/dict when ``tokenizer``).

    ``frames[i % len(frames)]`` is utterance i's video length (audio has the matching
    ``640 * frames`` samples). ``missing={i: "audio"|"video"}`` leaves that path empty.
    Returns the utterance ids.
    """
    missing = missing or {}
    sentences = sentences or SENTENCES
    media = os.path.join(folder, "media", split)
    os.makedirs(media, exist_ok=True)
    entries, texts, ids = [], [], []
    for i in range(n):
        uid = f"{split}_{i:03d}"
        nf = int(frames[i % len(frames)])
        vrel = arel = ""
        if missing.get(i) != "video":
            vrel = os.path.join("media", split, uid + video_ext)
            codec = "libx264" if video_ext == ".mp4" else "ffv1"
            write_video(os.path.join(folder, vrel), make_frames(nf, seed * 1000 + i), codec=codec)
        if missing.get(i) != "audio":
            arel = os.path.join("media", split, uid + ".wav")
            write_audio(os.path.join(folder, arel), make_wave(nf * SAMPLES_PER_FRAME, seed * 1000 + i))
        entries.append((uid, vrel, arel, nf, nf * SAMPLES_PER_FRAME))
        texts.append(sentences[i % len(sentences)])
        ids.append(uid)
    write_tsv(os.path.join(folder, f"{split}.tsv"), folder, entries)
    write_wrd(os.path.join(folder, f"{split}.wrd"), texts)
    if tokenizer and not os.path.exists(os.path.join(folder, "spm.model")):
        train_spm(folder, sentences)
    return ids
