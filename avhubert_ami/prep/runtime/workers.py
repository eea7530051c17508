"""The per-utterance worker loop of the recipes: in this process, a process pool or a Dask cluster
(:mod:`avhubert_ami.prep.runtime.engine`), with tqdm progress."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple

from tqdm import tqdm

from avhubert_ami.files import is_fatal_write_error
from avhubert_ami.prep.runtime.engine import LOCAL, Engine, dask_results

_WORKER_FN: Optional[Callable] = None

# What every job imports on first use, loaded once in the fork server rather than in each worker of each pool
# (a pool per split): torch (data.features, for the fbank file names) and scipy.signal (resampling) take
# seconds each.
_JOB_IMPORTS = ["avhubert_ami.prep.media", "avhubert_ami.data.features", "scipy.signal"]


def _init_worker(fn: Callable) -> None:
    global _WORKER_FN
    _WORKER_FN = fn


def _call(job: Tuple[str, Any]) -> Tuple[str, Any, Optional[str]]:
    return call_job(_WORKER_FN, job)


def call_job(fn: Callable[[Any], Any], job: Tuple[str, Any]) -> Tuple[str, Any, Optional[str]]:
    """``(uid, fn(payload), None)``, or ``(uid, None, error)`` for a bad input; a fatal write error is raised."""
    uid, payload = job
    import av

    try:
        return uid, fn(payload), None
    except (ValueError, OSError, RuntimeError, av.FFmpegError) as e:  # MediaError is a ValueError
        if is_fatal_write_error(e):  # every later utterance would fail the same way: stop the run
            raise OSError(e.errno, os.strerror(e.errno), getattr(e, "filename", None)) from None  # picklable
        return uid, None, f"{type(e).__name__}: {e}"


def run_jobs(
    fn: Callable[[Any], Any],
    jobs: Iterable[Tuple[str, Any]],
    num_workers: int,
    desc: str,
    total: Optional[int] = None,
    engine: Engine = LOCAL,
) -> Iterator[Tuple[str, Any, Optional[str]]]:
    """Run ``fn(payload)`` for every ``(uid, payload)``; yield ``(uid, result, error)`` as they finish.

    Bad-input errors (ValueError/OSError/RuntimeError/av.FFmpegError) become ``error`` strings; a full disk,
    an exceeded quota or a read-only file system (:func:`is_fatal_write_error`) and anything else propagate,
    stopping the run at the first one. ``fn`` must be a module-level function when ``num_workers > 1`` or on
    a Dask ``engine`` (``num_workers``: its local cluster's processes, unused with a scheduler address).
    """
    bar = tqdm(total=total, desc=desc, unit="utt", dynamic_ncols=True)
    try:
        with _results(fn, jobs, num_workers, engine) as results:
            for out in results:
                yield out
                bar.update()
    finally:
        bar.close()


@contextlib.contextmanager
def _results(
    fn: Callable[[Any], Any], jobs: Iterable[Tuple[str, Any]], num_workers: int, engine: Engine
) -> Iterator[Iterator[Tuple[str, Any, Optional[str]]]]:
    """The ``(uid, result, error)`` stream of :func:`run_jobs` from where the jobs run (and the pool kept open)."""
    if engine.name == "dask":
        yield dask_results(call_job, fn, jobs, num_workers, engine)
    elif num_workers <= 1:
        _init_worker(fn)
        yield map(_call, jobs)
    else:
        # Not plain fork: a parent that already ran threaded code (torch, mediapipe, arrow) can
        # deadlock its forked children. A fork server imports the worker's module once (~10 s with
        # fairseq) and forks clean workers from it.
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            # A preprocessing command line's server imports avhubert_ami fairseq-free, as the command line
            # itself did: it inherits AVHUBERT_AMI_WITHOUT_FAIRSEQ from this process (avhubert_ami/__init__.py).
            ctx.set_forkserver_preload([fn.__module__, *_JOB_IMPORTS])
        with ctx.Pool(num_workers, initializer=_init_worker, initargs=(fn,)) as pool:
            yield pool.imap_unordered(_call, jobs, chunksize=1)
