"""``--dataset_name``: a manifest directory, or a HuggingFace dataset converted once into ``OUTPUT_DIR/data``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from avhubert_ami.data.constants import SPLITS
from avhubert_ami.errors import UsageError

logger = logging.getLogger(__name__)

_HF_MARKERS = ("dataset_dict.json", "state.json", "dataset_info.json")
_HF_DATA_EXTS = (".arrow", ".parquet", ".csv", ".json", ".jsonl")
_DONE = ".hf_to_manifest.done.json"


def is_manifest_dir(path: Path) -> bool:
    """True when ``path`` holds at least one ``{split}.tsv`` (a preparation command line's output)."""
    return any((path / f"{s}.tsv").is_file() for s in SPLITS)


def is_hf_dataset_dir(path: Path) -> bool:
    """True for a ``save_to_disk`` folder or a folder of data files ``load_dataset`` reads."""
    if any((path / m).is_file() for m in _HF_MARKERS):
        return True
    return any(p.suffix in _HF_DATA_EXTS for p in path.rglob("*") if p.is_file())


def check_complete(data_dir: Path) -> None:
    """Refuse a manifest dir with a split whose preparation did not finish (``{split}.incomplete``)."""
    from avhubert_ami.data.manifest import check_complete as check_split
    from avhubert_ami.errors import ManifestError

    for split in SPLITS:
        try:
            check_split(str(data_dir), split)
        except ManifestError as e:
            raise UsageError(str(e)) from None


def check_tokenizer(data_dir: Path) -> None:
    """A manifest dir needs ``spm.model`` and ``dict.wrd.txt``; say how to make them when absent."""
    missing = [n for n in ("spm.model", "dict.wrd.txt") if not (data_dir / n).is_file()]
    if missing:
        raise UsageError(
            f"{data_dir} has no {' / '.join(missing)}: create them with `avhubert-tokenizer --manifest_dir {data_dir}`"
        )


def resolve_dataset(dataset_name: str, output_dir: Path) -> Path:
    """Return the manifest directory for ``--dataset_name`` (absolute), converting an HF dataset if needed.

    HF datasets are converted by :func:`~avhubert_ami.prep.hf_dataset.prepare_hf_dataset` then
    :func:`~avhubert_ami.prep.tokenizer.train_tokenizer` into ``output_dir/data``; a marker file records a finished
    conversion of the same source, so a re-run
    skips it (and an interrupted one resumes, both tools being idempotent).
    """
    src = Path(dataset_name).expanduser().resolve()
    if not src.is_dir():
        raise UsageError(f"--dataset_name {dataset_name}: no such directory")
    if is_manifest_dir(src):
        check_complete(src)
        check_tokenizer(src)
        return src
    if not is_hf_dataset_dir(src):
        raise UsageError(
            f"--dataset_name {src} is neither a manifest directory ({{train,valid,test}}.tsv) nor a HuggingFace "
            f"dataset directory (save_to_disk output or data files)"
        )
    out = output_dir / "data"
    marker = out / _DONE
    if marker.is_file() and json.loads(marker.read_text()).get("source") == str(src) and is_manifest_dir(out):
        logger.info("using %s converted earlier from %s", out, src)
        check_complete(out)
        check_tokenizer(out)
        return out
    from avhubert_ami.errors import ManifestError, MediaError, PreparationError
    from avhubert_ami.files import describe_os_error
    from avhubert_ami.prep.hf_dataset import prepare_hf_dataset
    from avhubert_ami.prep.tokenizer import train_tokenizer

    logger.info("converting HuggingFace dataset %s -> %s", src, out)
    try:
        summary = prepare_hf_dataset(str(src), str(out))
        print(summary.report("hf_to_manifest"), flush=True)
        if summary.failed or not is_manifest_dir(out):
            raise UsageError(
                f"converting {src} failed for {len(summary.failed)} row(s) (listed above); fix them "
                f"or convert it yourself with `avhubert-hf-to-manifest`"
            )
        train_tokenizer(str(out))  # deterministic: same transcripts -> same spm/dict
    except OSError as e:  # a full disk, a read-only folder: one line, like the preprocessing CLIs
        raise UsageError(f"converting {src}: {describe_os_error(e)}") from None
    except (PreparationError, ManifestError, MediaError) as e:
        raise UsageError(f"converting {src}: {e}") from None
    marker.write_text(json.dumps({"source": str(src)}))
    return out
