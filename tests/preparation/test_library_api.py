"""The preparation library without its command lines: typed recipe functions that raise PreparationError (no
SystemExit), and the guide CLI reporting such an error as a usage error."""

from __future__ import annotations

import os

import pytest

from avhubert_ami.errors import PreparationError
from tests.support.preparation import make_hf_dataset


def test_prepare_hf_dataset_is_typed_and_raises_preparation_errors(tmp_path):
    from avhubert_ami.prep.hf_dataset import Columns, prepare_hf_dataset
    from avhubert_ami.prep.runtime.options import WriterOptions

    hf = make_hf_dataset(str(tmp_path / "src"), bad_rows=False)
    with pytest.raises(PreparationError, match="no column 'words'"):
        prepare_hf_dataset(hf, str(tmp_path / "a"), columns=Columns(text="words"))
    with pytest.raises(PreparationError, match="video_format 'avi'"):
        WriterOptions(video_format="avi")
    summary = prepare_hf_dataset(hf, str(tmp_path / "out"), writer=WriterOptions(keep_disfluencies=False))
    assert summary.written > 0 and not summary.failed
    assert (tmp_path / "out" / "train.tsv").is_file()


def test_train_tokenizer_refuses_an_impossible_vocabulary(tmp_path):
    from avhubert_ami.prep.tokenizer import train_tokenizer

    with pytest.raises(PreparationError, match="--vocab_size must be > 4"):
        train_tokenizer(str(tmp_path), vocab_size=3)


def test_a_preparation_error_reaches_the_guide_cli_error_path(tmp_path):
    """Another run holding the conversion's output folder: before, the lock's SystemExit ended the guide CLI's
    process from inside hf_to_manifest.main; now the guide reports a UsageError naming the holder."""
    from avhubert_ami.errors import UsageError
    from avhubert_ami.prep.runtime.locking import output_lock
    from avhubert_ami.training.data_source import resolve_dataset

    hf = make_hf_dataset(str(tmp_path / "src"), bad_rows=False)
    out = tmp_path / "run"
    with output_lock(str(out / "data")):
        with pytest.raises(UsageError, match=rf"another run \(pid {os.getpid()}\) is writing to"):
            resolve_dataset(hf, out)
