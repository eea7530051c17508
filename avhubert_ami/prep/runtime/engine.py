"""Where the recipes' per-utterance jobs run: this machine's process pool (``local``) or a Dask distributed
cluster (``dask``, the ``[cluster]`` extra). Only the jobs travel: the main process keeps claiming utterances,
journaling results and writing manifests, so resumption, locks and error reports do not depend on the engine."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple

from avhubert_ami.errors import PreparationError

ENGINES = ("local", "dask")

#: jobs queued per worker thread: enough that no worker waits for the main process to hand out the next one,
#: few enough that the payloads of a whole corpus (HF rows carry their audio bytes) never sit in the scheduler
_IN_FLIGHT_PER_THREAD = 2
_REFRESH_S = 5.0  # how often the in-flight limit follows workers joining or leaving the cluster
_OPEN: Dict[Tuple["Engine", int], Any] = {}  # (engine, num_workers) -> the Dask client of an open session


@dataclass(frozen=True)
class Engine:
    """``name``: ``local`` (``num_workers`` processes of this machine) or ``dask``; ``scheduler``: the address of
    a running Dask scheduler (``tcp://host:8786``), or None for a local Dask cluster of ``num_workers`` processes."""

    name: str = "local"
    scheduler: Optional[str] = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise PreparationError(f"engine {self.name!r}: expected one of {', '.join(ENGINES)}")
        if self.scheduler and self.name != "dask":
            raise PreparationError("--scheduler is the address of a Dask scheduler: it needs --engine dask")
        if self.name == "dask":  # before any work: reading AMI's annotations alone takes a while
            import_distributed()

    @contextlib.contextmanager
    def session(self, num_workers: int) -> Iterator[None]:
        """Keep one Dask client (and local cluster) for every job run inside, e.g. all splits of a recipe:
        a local cluster's start-up is paid once. Nothing for the local engine."""
        key = (self, num_workers)
        if self.name != "dask" or key in _OPEN:
            yield
            return
        with _connect(import_distributed(), num_workers, self.scheduler) as client:
            _OPEN[key] = client
            try:
                yield
            finally:
                del _OPEN[key]


#: the default: this machine's process pool
LOCAL = Engine()


def import_distributed() -> Any:
    """The ``distributed`` package, or a one-line :class:`PreparationError` naming the extra that installs it."""
    try:
        import distributed
    except ImportError:
        raise PreparationError(
            "--engine dask needs Dask distributed: pip install 'avhubert-ami[cluster]' (or 'dask[distributed]')"
        ) from None
    return distributed


def dask_results(
    call: Callable[[Callable, Tuple[str, Any]], Tuple[str, Any, Optional[str]]],
    fn: Callable[[Any], Any],
    jobs: Iterable[Tuple[str, Any]],
    num_workers: int,
    engine: Engine,
) -> Iterator[Tuple[str, Any, Optional[str]]]:
    """``call(fn, job) -> (uid, result, error)`` for every job on ``engine``'s Dask cluster (its scheduler's, or
    a local one of ``num_workers`` single-threaded processes; the open :meth:`Engine.session`'s, if any),
    yielded as they finish. ``jobs`` is consumed in this thread, a few jobs ahead of the workers; an exception
    of a job is raised here and cancels the rest; a job that kept killing its worker processes (a crash, out of
    memory) comes back as ``(uid, None, "KilledWorker: ...")``, a failed row like a corrupt file."""
    distributed = import_distributed()
    cwd = os.getcwd()
    with engine.session(num_workers):
        client = _OPEN[(engine, num_workers)]
        pending = distributed.as_completed(loop=client.loop)
        todo = iter(jobs)
        limit, checked = 0, float("-inf")
        uids: Dict[str, str] = {}  # future key -> the utterance of its job

        def refill() -> None:
            nonlocal limit, checked
            if time.monotonic() - checked > _REFRESH_S:
                limit, checked = _IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values())), time.monotonic()
            while pending.count() < limit:
                job = next(todo, None)
                if job is None:
                    return
                future = client.submit(_in_dir, cwd, call, fn, job, pure=False)
                uids[future.key] = job[0]
                pending.add(future)

        try:
            refill()
            for future in pending:
                try:
                    result = future.result()
                except distributed.KilledWorker:  # a crash or the OOM killer, not a Python exception
                    result = (
                        uids[future.key],
                        None,
                        "KilledWorker: every Dask worker process that ran this job died (a crash or out of memory; "
                        "Dask retries it distributed.scheduler.allowed-failures times)",
                    )
                del uids[future.key]
                future.release()  # the cluster may drop the result now
                yield result
                refill()
        finally:
            client.cancel(list(pending.futures))


def _in_dir(cwd: str, call: Callable, fn: Callable, job: Tuple[str, Any]) -> Any:
    """On a worker: ``call(fn, job)`` from the preparing process's working directory, so that relative input
    and output paths mean there what they mean here (as in a local pool's workers, which inherit it). Safe as
    workers run one job at a time; a machine without that folder runs it where it is (absolute paths work)."""
    with contextlib.suppress(OSError):
        os.chdir(cwd)
    return call(fn, job)


@contextlib.contextmanager
def _connect(distributed: Any, num_workers: int, scheduler: Optional[str]) -> Iterator[Any]:
    with _quiet_distributed():
        if scheduler:
            try:
                client = distributed.Client(scheduler, set_as_default=False)
            except OSError as e:  # unreachable or refused: distributed raises OSError after its connect timeout
                raise PreparationError(f"--scheduler {scheduler}: {e}") from None
        else:
            # One thread per worker process: the jobs keep per-process state (a reused landmark detector) that
            # threads would share, and they hold the GIL for most of their time anyway. The client owns this
            # LocalCluster: closing the client stops its workers.
            client = distributed.Client(
                n_workers=max(1, num_workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                set_as_default=False,
            )
        with client:
            _refuse_threaded_workers(client, scheduler)
            yield client


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """distributed's INFO chatter (every worker start and stop) off while a run uses the cluster: the preparation
    reports its own progress. Its INFO records also carry the tracebacks of connections it closes itself at shutdown
    (``Batched Comm Closed``), which are not failures. Warnings and errors still show; the level is restored after."""
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(level)


def _refuse_threaded_workers(client: Any, scheduler: Optional[str]) -> None:
    threaded = {addr: n for addr, n in client.nthreads().items() if n > 1}
    if threaded:
        addr, n = sorted(threaded.items())[0]
        raise PreparationError(
            f"--scheduler {scheduler}: Dask worker {addr} runs {n} threads; the preparation jobs need one thread "
            f"per worker process: start workers with `dask worker {scheduler} --nthreads 1 --nworkers N`"
        )
