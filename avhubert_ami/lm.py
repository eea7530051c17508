"""Train a Transformer language model for shallow fusion with the recogniser (``avhubert-train-lm``).

    avhubert-train-lm --manifest_dir M --output_dir LMDIR [--extra_text FILE ...] [--preset tiny|base]
        [--max_update N] [--lowercase] [hydra overrides key=value ...]

1. Encodes ``M/train.wrd`` (plus each ``--extra_text`` file, one sentence a line) and ``M/valid.wrd`` with the
   recogniser's own ``M/spm.model`` into ``LMDIR/text/{train,valid}.pieces``. Never the test split.
2. Binarises them with fairseq-preprocess against the recogniser's dictionary ``M/dict.wrd.txt`` into
   ``LMDIR/data-bin`` (so LM and recogniser share token ids).
3. Trains fairseq's ``transformer_lm`` (task ``ami_av_lm`` = ``language_modeling``) with the preset
   ``conf/lm/{preset}.yaml``: ``LMDIR/checkpoint_best.pt`` (lowest valid loss) and ``checkpoint_last.pt``.

Re-running resumes: finished steps are skipped (their inputs are recorded beside their outputs) and
training continues from ``checkpoint_last.pt``. Use the LM with ``fairseq-generate ... --lm-path
LMDIR/checkpoint_best.pt --lm-weight W`` or ``avhubert-decode --lm_path ... --lm_weight W``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from avhubert_ami.presets import LM_CONF, USER_DIR

logger = logging.getLogger("avhubert_ami.lm")

PRESETS = ("tiny", "base")


def _file_signature(path: str) -> Dict[str, object]:
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _stamp_matches(stamp: Path, record: Dict[str, object]) -> bool:
    try:
        return json.loads(stamp.read_text()) == json.loads(json.dumps(record))
    except (OSError, ValueError):
        return False


def _write_stamp(stamp: Path, record: Dict[str, object]) -> None:
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, stamp)


def read_sentences(path: str) -> List[str]:
    """Non-empty lines of a UTF-8 text file (a clear error names the file and line of bad bytes)."""
    out = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not UTF-8 text ({e})") from None
            if line:
                out.append(line)
    return out


def prepare_text(
    manifest_dir: str, text_dir: Path, extra_text: Sequence[str] = (), lowercase: bool = False, valid_every: int = 20
) -> Tuple[Path, Path]:
    """Sentencepiece-encode training (+ extra) and validation text; returns the ``.pieces`` files.

    Without ``M/valid.wrd`` every ``valid_every``-th training sentence is held out for validation.
    """
    import sentencepiece as spm
    from tqdm import tqdm

    spm_path = os.path.join(manifest_dir, "spm.model")
    train_wrd, valid_wrd = os.path.join(manifest_dir, "train.wrd"), os.path.join(manifest_dir, "valid.wrd")
    for path in (spm_path, train_wrd, *extra_text):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: not found")
    train = read_sentences(train_wrd)
    for path in extra_text:
        train += read_sentences(path)
    if os.path.isfile(valid_wrd):
        valid = read_sentences(valid_wrd)
    else:
        logger.warning("%s missing: holding out every %dth training sentence for validation", valid_wrd, valid_every)
        valid = train[::valid_every]
        train = [s for i, s in enumerate(train) if i % valid_every]
    if not train or not valid:
        raise ValueError(f"{manifest_dir}: no training or validation sentences for the LM")
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    text_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for name, sentences in (("train", train), ("valid", valid)):
        path = text_dir / f"{name}.pieces"
        with open(path.with_suffix(".tmp"), "w", encoding="utf-8") as f:
            for s in tqdm(sentences, desc=f"sentencepiece {name}", unit="sent", leave=False):
                f.write(" ".join(sp.encode(s.lower() if lowercase else s, out_type=str)) + "\n")
        os.replace(path.with_suffix(".tmp"), path)
        outputs.append(path)
    logger.info("LM text: %d training, %d validation sentences", len(train), len(valid))
    return outputs[0], outputs[1]


def binarize(train: Path, valid: Path, dict_path: str, dest: Path) -> None:
    """fairseq-preprocess (Python API) with the recogniser's dictionary fixed (``--srcdict``)."""
    from fairseq import options
    from fairseq_cli import preprocess

    # without --source-lang, preprocess reads the prefixes as file names and writes {split}.bin/.idx, dict.txt
    args = options.get_preprocessing_parser().parse_args(
        [
            "--only-source",
            "--srcdict",
            dict_path,
            "--trainpref",
            str(train),
            "--validpref",
            str(valid),
            "--destdir",
            str(dest),
            "--workers",
            "1",
            "--dataset-impl",
            "mmap",
        ]
    )
    preprocess.main(args)


def train_command(preset: str, data_bin: Path, output_dir: Path, overrides: Sequence[str] = ()) -> List[str]:
    """The fairseq-hydra-train command line (as ``python -m fairseq_cli.hydra_train``) for ``preset``."""
    return [
        sys.executable,
        "-m",
        "fairseq_cli.hydra_train",
        "--config-dir",
        str(LM_CONF),
        "--config-name",
        preset,
        f"common.user_dir={USER_DIR}",
        f"task.data={data_bin}",
        f"checkpoint.save_dir={output_dir}",
        f"hydra.run.dir={output_dir / 'hydra'}",
        *overrides,
    ]


def train_lm(
    manifest_dir: str,
    output_dir: str,
    extra_text: Sequence[str] = (),
    preset: str = "tiny",
    overrides: Sequence[str] = (),
    lowercase: bool = False,
) -> Path:
    """Prepare, binarise and train (each step skipped when already done); returns ``checkpoint_best.pt``."""
    if preset not in PRESETS:
        raise ValueError(f"--preset must be one of {PRESETS}, got {preset!r}")
    manifest_dir = os.path.abspath(manifest_dir)
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    dict_path = os.path.join(manifest_dir, "dict.wrd.txt")
    if not os.path.isfile(dict_path):
        raise FileNotFoundError(f"{dict_path}: the recogniser's dictionary is needed (run avhubert-tokenizer)")
    inputs = [os.path.join(manifest_dir, n) for n in ("spm.model", "dict.wrd.txt", "train.wrd", "valid.wrd")]
    data_record = {
        "inputs": [_file_signature(p) for p in [*inputs, *extra_text] if os.path.isfile(p)],
        "extra_text": [os.path.abspath(p) for p in extra_text],
        "lowercase": lowercase,
    }
    data_bin = out / "data-bin"
    data_stamp = out / "data-bin.done.json"
    if _stamp_matches(data_stamp, data_record) and (data_bin / "train.bin").is_file():
        logger.info("step 1-2/3: %s is up to date", data_bin)
    else:
        logger.info("step 1/3: sentencepiece-encoding the transcripts")
        train, valid = prepare_text(manifest_dir, out / "text", extra_text, lowercase)
        logger.info("step 2/3: binarising into %s", data_bin)
        binarize(train, valid, dict_path, data_bin)
        _write_stamp(data_stamp, data_record)
    best = out / "checkpoint_best.pt"
    train_record = {
        "preset": preset,
        "overrides": list(overrides),
        "data": hashlib.sha1(data_stamp.read_bytes()).hexdigest(),
    }
    train_stamp = out / "train.done.json"
    if _stamp_matches(train_stamp, train_record) and best.is_file():
        logger.info("step 3/3: already trained (%s); delete %s to train again", best, train_stamp)
        return best
    cmd = train_command(preset, data_bin, out, overrides)
    logger.info("step 3/3: training (resumes from %s if present):\n  %s", out / "checkpoint_last.pt", " ".join(cmd))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    rc = subprocess.call(cmd, env=env)  # output streams through: fairseq's progress log is the progress bar
    if rc != 0:
        raise RuntimeError(f"LM training failed (exit {rc}); re-run the same command to resume")
    if not best.is_file():
        raise RuntimeError(f"LM training ended without {best}")
    _write_stamp(train_stamp, train_record)
    return best


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``avhubert-train-lm`` / ``python -m avhubert_ami.lm``."""
    p = argparse.ArgumentParser(prog="avhubert-train-lm", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--manifest_dir",
        required=True,
        help="the recogniser's manifest dir (train.wrd, valid.wrd, spm.model, dict.wrd.txt)",
    )
    p.add_argument("--output_dir", required=True, help="LM folder: data-bin/, checkpoint_best.pt, checkpoint_last.pt")
    p.add_argument(
        "--extra_text",
        nargs="*",
        default=[],
        metavar="FILE",
        help="more training text, one sentence a line (never the test transcripts)",
    )
    p.add_argument("--preset", choices=PRESETS, default="tiny", help="conf/lm/{preset}.yaml (tiny: CPU; base: GPU)")
    p.add_argument("--max_update", type=int, default=None, help="override the preset's optimization.max_update")
    p.add_argument(
        "--lowercase",
        action="store_true",
        help="lower-case text before sentencepiece (as the recogniser's task.label_lowercase)",
    )
    p.add_argument("overrides", nargs="*", help="hydra overrides for fairseq, e.g. optimization.lr=[0.001]")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``avhubert-train-lm``."""
    from avhubert_ami.cli_errors import configure_logging

    configure_logging()
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides)
    if args.max_update is not None:
        overrides.append(f"optimization.max_update={args.max_update}")
    try:
        best = train_lm(args.manifest_dir, args.output_dir, args.extra_text, args.preset, overrides, args.lowercase)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"avhubert-train-lm: error: {e}", file=sys.stderr)
        return 1
    print(
        f"language model: {best}\n  use: fairseq-generate ... --lm-path {best} --lm-weight 0.2   or   "
        f"avhubert-decode ... --lm_path {best} --lm_weight 0.2"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
