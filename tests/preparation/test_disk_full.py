"""A full disk during preparation: the run stops at the first ENOSPC with one clear line, no split's
manifest looks finished unless it is (``{split}.incomplete`` is refused by load_split and the
tokenizer), and the re-run after freeing space finishes without redoing the finished utterances."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess

import pytest

import avhubert_ami.data.video as video_io
from avhubert_ami.cli import hf_to_manifest, tokenizer
from avhubert_ami.data import manifest as mf
from avhubert_ami.prep.constants import SPLITS
from avhubert_ami.prep.runtime import workers
from tests.support.preparation import convert_hf, make_hf_dataset


def _disk_full_after(monkeypatch, n_ok):
    """Make the video writer fail with ENOSPC from its ``n_ok + 1``-th call; returns the call log."""
    calls = []
    real = video_io.write_video

    def write_video(path, *args, **kwargs):
        calls.append(path)
        if len(calls) > n_ok:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(video_io, "write_video", write_video)
    return calls


def _assert_refused(out, split):
    with pytest.raises(mf.ManifestError, match=rf"{split}\.incomplete: the preparation of split '{split}'"):
        mf.load_split(out, split)


def test_stops_at_first_enospc_and_rerun_finishes(tmp_path, monkeypatch, capsys, cli_error):
    dataset = make_hf_dataset(str(tmp_path), bad_rows=False)  # train 4, valid 2, test 2 rows
    out = str(tmp_path / "out")
    calls = _disk_full_after(monkeypatch, 2)
    rc, msg = cli_error(hf_to_manifest.main, ["--dataset_name", dataset, "--output_dir", out])
    assert rc == 1 and msg.startswith("avhubert-hf-to-manifest: error: No space left on device")
    assert "re-run the same command" in msg
    assert len(calls) == 3  # no further row was tried after the first failure
    assert not os.path.exists(os.path.join(out, "train.tsv"))  # no manifest that looks finished
    assert not any(os.path.exists(os.path.join(out, f"{s}.tsv")) for s in ("valid", "test"))
    _assert_refused(out, "train")
    with open(os.path.join(out, "train.wrd"), "w") as f:  # even a train.wrd left by hand is not trained on
        f.write("hello world\n")
    rc, msg = cli_error(tokenizer.main, ["--manifest_dir", out])
    assert rc == 2 and re.search(r"train\.incomplete: the preparation", msg)

    monkeypatch.undo()  # space freed
    summary = convert_hf(dataset, out)
    assert summary.already_done == 2 and summary.written == 6 and not summary.failed
    for split in SPLITS:
        assert not os.path.exists(mf.incomplete_marker(out, split))
        manifest, _ = mf.load_split(out, split)
        assert len(manifest) == {"train": 4, "valid": 2, "test": 2}[split]


def test_interrupted_rerun_marks_an_older_manifest_untrusted(tmp_path, monkeypatch):
    dataset = make_hf_dataset(str(tmp_path), bad_rows=False)
    out = str(tmp_path / "out")
    convert_hf(dataset, out)
    _disk_full_after(monkeypatch, 0)
    with pytest.raises(OSError):
        convert_hf(dataset, out, "--overwrite")
    assert os.path.exists(os.path.join(out, "train.tsv"))  # the old one is still there...
    _assert_refused(out, "train")  # ...but refused until a run finishes


def test_worker_pool_stops_too(tmp_path, monkeypatch):
    """A worker's ENOSPC reaches the parent as an OSError (not a per-row failure) and stops the pool."""
    import av

    def full(_):
        raise av.error.OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/.u.mkv.abcdefgh.tmp")

    workers._init_worker(full)
    with pytest.raises(OSError) as exc:
        workers._call(("u1", None))
    assert type(exc.value) is OSError and exc.value.errno == errno.ENOSPC  # plain: pickles across processes
    workers._init_worker(lambda _: (_ for _ in ()).throw(OSError(errno.ENOENT, "No such file", "in.mp4")))
    assert workers._call(("u2", None))[2].startswith("FileNotFoundError")  # bad input stays per row


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8) for a small tmpfs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")


def test_real_full_tmpfs(tmp_path, cli_error):
    dataset = make_hf_dataset(str(tmp_path), bad_rows=False)  # its outputs take ~1 MB
    out = str(tmp_path / "small")
    _mount_tmpfs(out, "300k")
    try:
        rc, msg = cli_error(hf_to_manifest.main, ["--dataset_name", dataset, "--output_dir", out])
        assert rc == 1 and msg.startswith("avhubert-hf-to-manifest: error: No space left on device")
        complete = [
            s
            for s in SPLITS
            if os.path.exists(os.path.join(out, f"{s}.tsv")) and not os.path.exists(mf.incomplete_marker(out, s))
        ]
        assert "test" not in complete  # the disk filled before the last split
        subprocess.run(["mount", "-o", "remount,size=20m", out], check=True)
        assert hf_to_manifest.main(["--dataset_name", dataset, "--output_dir", out]) == 0
        assert [len(mf.load_split(out, s)[0]) for s in SPLITS] == [4, 2, 2]
    finally:
        subprocess.run(["umount", out], check=False)
