"""Prepared files get the mode a plain write would give (umask respected), not mkstemp's 0600."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from avhubert_ami.cli import tokenizer
from avhubert_ami.data import manifest as mf
from avhubert_ami.data.audio import write_audio
from avhubert_ami.data.video import write_video
from avhubert_ami.files import atomic_write, write_if_changed
from tests.support.preparation import convert_hf, make_hf_dataset


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writers_respect_umask(tmp_path, umask):
    want = 0o666 & ~umask
    with atomic_write(str(tmp_path / "a.txt")) as f:
        f.write("x")
    write_audio(str(tmp_path / "a.wav"), np.zeros(1600, np.float32))
    write_video(str(tmp_path / "v.mkv"), np.zeros((3, 16, 16), np.uint8))
    write_if_changed(str(tmp_path / "b.txt"), lambda p: open(p, "w").write("y"))
    mf.write_tsv(str(tmp_path / "t.tsv"), str(tmp_path), [("u", "v.mkv", "", 3, 1920)])
    for name in ("a.txt", "a.wav", "v.mkv", "b.txt", "t.tsv"):
        assert _mode(str(tmp_path / name)) == want, name


def test_rewrite_keeps_the_existing_mode(tmp_path, umask):
    path = str(tmp_path / "a.txt")
    with atomic_write(path) as f:
        f.write("x")
    os.chmod(path, 0o640)
    with atomic_write(path) as f:
        f.write("y")
    assert _mode(path) == 0o640


def test_prepared_folder_is_readable_by_others_under_umask_022(tmp_path):
    old = os.umask(0o022)
    try:
        out = str(tmp_path / "out")
        dataset = make_hf_dataset(str(tmp_path), bad_rows=False)
        convert_hf(dataset, out)
        tokenizer.train_tokenizer(out, vocab_size=30)
    finally:
        os.umask(old)
    files = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs]
    kinds = {os.path.splitext(f)[1] for f in files}
    assert {".tsv", ".wrd", ".wav", ".mkv", ".model", ".txt"} <= kinds
    bad = {os.path.relpath(f, out): oct(_mode(f)) for f in files if _mode(f) != 0o644}
    assert not bad
