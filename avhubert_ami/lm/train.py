"""Train a Transformer language model for shallow fusion with the recogniser (the work of ``avhubert-train-lm``).

:func:`train_lm`:

1. Encodes ``M/train.wrd`` (plus each ``--extra_text`` file, one sentence a line) and ``M/valid.wrd`` with the
   recogniser's own ``M/spm.model`` into ``LMDIR/text/{train,valid}.pieces``. Never the test split.
2. Binarises them with fairseq-preprocess against the recogniser's dictionary ``M/dict.wrd.txt`` into
   ``LMDIR/data-bin`` (so LM and recogniser share token ids).
3. Trains fairseq's ``transformer_lm`` (task ``ami_av_lm`` = ``language_modeling``) with the preset
   ``conf/lm/{preset}.yaml``: ``LMDIR/checkpoint_best.pt`` (lowest valid loss) and ``checkpoint_last.pt``.

Re-running resumes: finished steps are skipped (their inputs are recorded beside their outputs) and
training continues from ``checkpoint_last.pt``. One run at a time writes to ``LMDIR``: it is locked
(``LMDIR/.avhubert_ami.lock``, the holder's pid inside, as preparation does) for the whole run, the trainer process
included (:mod:`avhubert_ami.training.trainer_processes`: it dies with this process and reports its errors in one
line). The presets validate every few hundred updates and stop when the validation loss has not improved for
``checkpoint.patience`` validations (said in the log at the end). Use the LM with ``fairseq-generate ... --lm-path
LMDIR/checkpoint_best.pt --lm-weight W`` or ``avhubert-decode --lm_path ... --lm_weight W``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import List, Sequence, Tuple

from avhubert_ami.errors import UsageError, WorkError
from avhubert_ami.files import atomic_write
from avhubert_ami.training.flags import check_run_dir, hydra_str
from avhubert_ami.training.presets import LM_CONF, USER_DIR
from avhubert_ami.training.stamps import file_signature, stamp_matches, write_stamp
from avhubert_ami.training.trainer_processes import hydra_train_command, log_size, run_trainers, stopped_early

logger = logging.getLogger(__name__)

PRESETS = ("tiny", "base")


def read_sentences(path: str) -> List[str]:
    """Non-empty lines of a UTF-8 text file (a clear error names the file and line of bad bytes)."""
    out = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise UsageError(f"{path}:{lineno}: not UTF-8 text ({e})") from None
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
            raise UsageError(f"{path}: not found")
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
        raise UsageError(f"{manifest_dir}: no training or validation sentences for the LM")
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    text_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for name, sentences in (("train", train), ("valid", valid)):
        path = text_dir / f"{name}.pieces"
        with atomic_write(str(path)) as f:
            for s in tqdm(sentences, desc=f"sentencepiece {name}", unit="sent", leave=False):
                f.write(" ".join(sp.encode(s.lower() if lowercase else s, out_type=str)) + "\n")
        outputs.append(path)
    logger.info("LM text: %d training, %d validation sentences", len(train), len(valid))
    return outputs[0], outputs[1]


def binarize(train: Path, valid: Path, dict_path: str, dest: Path) -> None:
    """fairseq-preprocess (Python API) with the recogniser's dictionary fixed (``--srcdict``); ``train`` and
    ``valid`` are in one folder."""
    from fairseq import options
    from fairseq_cli import preprocess

    # without --source-lang, preprocess reads the prefixes as file names and writes {split}.bin/.idx, dict.txt
    args = options.get_preprocessing_parser().parse_args(
        [
            "--only-source",
            "--srcdict",
            os.path.abspath(dict_path),
            "--trainpref",
            train.name,
            "--validpref",
            valid.name,
            "--destdir",
            str(dest.resolve()),
            "--workers",
            "1",
            "--dataset-impl",
            "mmap",
        ]
    )
    # fairseq-preprocess splits --validpref at commas: the text files are named relative to their own folder,
    # so that an output folder with a comma in its path works
    previous = os.getcwd()
    os.chdir(train.parent)
    try:
        preprocess.main(args)
    finally:
        os.chdir(previous)


def train_command(preset: str, data_bin: Path, output_dir: Path, overrides: Sequence[str] = ()) -> List[str]:
    """The fairseq-hydra-train command line of ``preset`` (paths quoted for hydra's override parser: any folder
    name works, commas, ``=``, quotes and non-ASCII letters included); ``overrides`` are passed as given."""
    paths = {
        "common.user_dir": USER_DIR,
        "task.data": data_bin,
        "checkpoint.save_dir": output_dir,
        "hydra.run.dir": output_dir / "hydra",
    }
    quoted = [f"{key}={hydra_str(str(path))}" for key, path in paths.items()]
    return hydra_train_command(LM_CONF, preset, quoted + list(overrides))


def train_lm(
    manifest_dir: str,
    output_dir: str,
    extra_text: Sequence[str] = (),
    preset: str = "tiny",
    overrides: Sequence[str] = (),
    lowercase: bool = False,
    wait: bool = False,
) -> Path:
    """Prepare, binarise and train (each step skipped when already done) with ``output_dir`` locked (another run
    holding it: a one-line error naming its pid, or, with ``wait``, wait for it); returns ``checkpoint_best.pt``."""
    from avhubert_ami.prep.runtime.locking import output_lock

    if preset not in PRESETS:
        raise UsageError(f"--preset must be one of {PRESETS}, got {preset!r}")
    manifest_dir = os.path.abspath(manifest_dir)
    out = Path(output_dir).resolve()
    check_run_dir(out)
    dict_path = os.path.join(manifest_dir, "dict.wrd.txt")
    if not os.path.isfile(dict_path):
        raise UsageError(f"{dict_path}: the recogniser's dictionary is needed (run avhubert-tokenizer)")
    with output_lock(str(out), wait):
        return _train_locked(manifest_dir, out, dict_path, extra_text, preset, overrides, lowercase)


def _train_locked(
    manifest_dir: str,
    out: Path,
    dict_path: str,
    extra_text: Sequence[str],
    preset: str,
    overrides: Sequence[str],
    lowercase: bool,
) -> Path:
    """The steps of :func:`train_lm`, run while ``out`` is locked."""
    inputs = [os.path.join(manifest_dir, n) for n in ("spm.model", "dict.wrd.txt", "train.wrd", "valid.wrd")]
    data_record = {
        "inputs": [file_signature(p) for p in [*inputs, *extra_text] if os.path.isfile(p)],
        "extra_text": [os.path.abspath(p) for p in extra_text],
        "lowercase": lowercase,
    }
    data_bin = out / "data-bin"
    data_stamp = out / "data-bin.done.json"
    if stamp_matches(data_stamp, data_record) and (data_bin / "train.bin").is_file():
        logger.info("step 1-2/3: %s is up to date", data_bin)
    else:
        logger.info("step 1/3: sentencepiece-encoding the transcripts")
        train, valid = prepare_text(manifest_dir, out / "text", extra_text, lowercase)
        logger.info("step 2/3: binarising into %s", data_bin)
        binarize(train, valid, dict_path, data_bin)
        write_stamp(data_stamp, data_record)
    best = out / "checkpoint_best.pt"
    train_record = {
        "preset": preset,
        "overrides": list(overrides),
        "data": hashlib.sha1(data_stamp.read_bytes()).hexdigest(),
    }
    train_stamp = out / "train.done.json"
    if stamp_matches(train_stamp, train_record) and best.is_file():
        logger.info("step 3/3: already trained (%s); delete %s to train again", best, train_stamp)
        return best
    from avhubert_ami.checkpoints.fairseq_patches import check_resume

    resume = check_resume(str(out))  # an unreadable or refused checkpoint_last.pt: one line now, not a traceback
    cmd = train_command(preset, data_bin, out, overrides)
    logger.info("step 3/3: training%s:\n  %s", f" (resuming from {resume})" if resume else "", " ".join(cmd))
    log = out / "hydra" / "hydra_train.log"
    start = log_size(log)
    run_trainers([cmd], log)  # output streams through: fairseq's progress log is the progress bar
    if not best.is_file():
        raise WorkError(f"LM training ended without {best}: see its messages above and {log}")
    stopped = stopped_early(log, start)
    if stopped:
        logger.info(
            "LM training stopped early (%s): %s is the model with the lowest validation loss; "
            "checkpoint.patience=N sets how many validations without improvement are allowed",
            stopped,
            best,
        )
    write_stamp(train_stamp, train_record)
    return best
