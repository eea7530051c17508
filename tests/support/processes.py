"""Child processes of the tests: their environment, running a command, and functions worker processes run.

Worker processes (a fork server, Dask workers) import the functions they run by module path: keep
:func:`fairseq_loaded` here, at ``tests.support.processes``, and this module free of heavy imports (importing it
must not load fairseq or torch, which is what :func:`fairseq_loaded` reports on).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from tests.support import REPO


def quiet_env() -> Dict[str, str]:
    """Environment for child processes: one intra-op thread (tiny models on a shared 2-core box run ~5x
    faster without OpenMP threads spinning against other processes), unbuffered output."""
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def run(cmd: List[str], timeout: float = 240, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run ``cmd``; on failure raise with its output (so a test failure shows fairseq's error)."""
    env = quiet_env()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO, env=env)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}\nexit {p.returncode}\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}")
    return p


def fairseq_loaded(_) -> bool:
    """A worker's answer: has its process imported fairseq?"""
    return "fairseq" in sys.modules


_HOLD_LOCK = """
import sys, time
from avhubert_ami.prep.runtime.locking import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def lock_held_by_another_process(folder) -> Iterator[int]:
    """Another process holds ``folder``'s output lock (as a running training or preparation would) for the block;
    yields its pid."""
    env = dict(quiet_env(), AVHUBERT_AMI_WITHOUT_FAIRSEQ="1", PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "held"
        yield p.pid
    finally:
        p.kill()
        p.wait()
