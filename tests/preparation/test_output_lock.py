"""One run per output folder: a second run into the same folder stops naming the first's pid, or
waits with --wait; the stale-temporary sweep runs only under the lock."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pytest

from avhubert_ami.cli import ami_corpus, hf_to_manifest, mouth_roi, tokenizer
from avhubert_ami.errors import PreparationError
from avhubert_ami.prep.constants import SPLITS
from avhubert_ami.prep.runtime.locking import LOCK_NAME, output_lock
from tests.support import REPO
from tests.support.preparation import make_hf_dataset

_HOLD = (
    "import sys, time; from avhubert_ami.prep.runtime import locking\n"
    "with locking.output_lock(sys.argv[1]):\n"
    "    print('locked', flush=True); time.sleep(float(sys.argv[2]))\n"
)


def _holder(folder: str, seconds: float) -> subprocess.Popen:
    """A process holding ``folder``'s output lock for ``seconds`` (stands for a run in progress)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), AVHUBERT_AMI_WITHOUT_FAIRSEQ="1")  # a start-up without fairseq
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, folder, str(seconds)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_holder_is_refused_then_waits(tmp_path):
    folder = str(tmp_path / "out")
    proc = _holder(folder, 1.5)
    try:
        with pytest.raises(PreparationError, match=rf"another run \(pid {proc.pid}\) is writing to .*out.*--wait"):
            with output_lock(folder):
                pass
        t0 = time.time()
        with output_lock(folder, wait=True):
            assert time.time() - t0 > 1.0  # got it only once the holder let go (it holds it 1.5 s)
            with open(os.path.join(folder, LOCK_NAME)) as f:
                assert f.read().strip() == str(os.getpid())
    finally:
        proc.kill()
        proc.wait()
    assert not os.path.exists(os.path.join(folder, LOCK_NAME))  # removed on release


def test_waiters_queue_one_at_a_time(tmp_path):
    """Lock files are removed on release: two waiters must still never hold it together."""
    folder, inside, overlap = str(tmp_path), [], []

    def worker():
        for _ in range(20):
            with output_lock(folder, wait=True):
                inside.append(1)
                overlap.append(len(inside))
                time.sleep(0.001)
                inside.pop()

    # flock locks belong to open file descriptions, so threads of one process exclude each other too
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(overlap) == 1 and len(overlap) == 60


def test_every_preparation_cli_refuses_a_locked_folder(tmp_path, cli_error):
    out = str(tmp_path / "out")
    os.makedirs(out)
    open(os.path.join(out, "train.wrd"), "w").write("hello world\n")
    proc = _holder(out, 60)
    try:
        msg = rf"another run \(pid {proc.pid}\) is writing to"
        dataset = make_hf_dataset(str(tmp_path), bad_rows=False)
        os.makedirs(tmp_path / "ami" / "amicorpus")
        os.makedirs(tmp_path / "ami" / "ami_public_manual_1.6.2")
        for main, argv in (
            (hf_to_manifest.main, ["--dataset_name", dataset, "--output_dir", out]),
            (ami_corpus.main, ["--ami_dir", str(tmp_path / "ami"), "--output_dir", out]),
            (mouth_roi.main, ["--input", os.path.join(dataset, "clips"), "--output", out]),
            (tokenizer.main, ["--manifest_dir", out]),
        ):
            rc, line = cli_error(main, argv)
            assert rc == 2 and re.search(msg, line), line
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow  # two full conversions side by side: ~30 s on 2 cores
def test_two_concurrent_conversions_into_one_folder(tmp_path):
    """The second run (--wait) used to sweep the first's in-flight temporaries, killing it with a
    FileNotFoundError; now it queues and both end with the complete manifests."""
    dataset = make_hf_dataset(str(tmp_path), bad_rows=False)
    out = str(tmp_path / "out")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "preprocess.hf_to_manifest", "--dataset_name", dataset, "--output_dir", out, "--wait"]
    first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert "Traceback" not in outs[0][1] + outs[1][1]
    from avhubert_ami.data import manifest as mf

    for split in SPLITS:
        assert len(mf.load_split(out, split)[0]) > 0
