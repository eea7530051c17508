"""Where the recipes' per-utterance jobs run: this machine's process pool (``local``) or a Dask distributed
cluster (``dask``, the ``[cluster]`` extra). Only the jobs travel: the main process keeps claiming utterances,
journaling results and writing manifests, so resumption, locks and error reports do not depend on the engine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple

from avhubert_ami.data.errors import PreparationError

ENGINES = ("local", "dask")

#: jobs queued per worker thread: enough that no worker waits for the main process to hand out the next one,
#: few enough that the payloads of a whole corpus (HF rows carry their audio bytes) never sit in the scheduler
_IN_FLIGHT_PER_THREAD = 2
_REFRESH_S = 5.0  # how often the in-flight limit follows workers joining or leaving the cluster


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
    call: Callable[[Callable, Tuple[str, Any]], Any],
    fn: Callable[[Any], Any],
    jobs: Iterable[Tuple[str, Any]],
    num_workers: int,
    scheduler: Optional[str],
) -> Iterator[Any]:
    """``call(fn, job)`` for every job on a Dask cluster (``scheduler``'s, or a local one of ``num_workers``
    single-threaded processes), yielding the results as they finish. ``jobs`` is consumed in this process and
    thread, a few jobs ahead of the workers; an exception of a job is raised here and cancels the rest."""
    distributed = import_distributed()
    with _client(distributed, num_workers, scheduler) as client:
        _refuse_threaded_workers(client, scheduler)
        pending = distributed.as_completed(loop=client.loop)
        todo = iter(jobs)
        limit, checked = 0, float("-inf")

        def refill() -> None:
            nonlocal limit, checked
            if time.monotonic() - checked > _REFRESH_S:
                limit, checked = _IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values())), time.monotonic()
            while pending.count() < limit:
                job = next(todo, None)
                if job is None:
                    return
                pending.add(client.submit(call, fn, job, pure=False))

        try:
            refill()
            for future in pending:
                result = future.result()
                future.release()  # the cluster may drop the result now
                yield result
                refill()
        finally:
            client.cancel(list(pending.futures))


def _client(distributed: Any, num_workers: int, scheduler: Optional[str]) -> Any:
    if scheduler:
        try:
            return distributed.Client(scheduler, set_as_default=False)
        except OSError as e:  # unreachable or refused: distributed raises OSError after its connect timeout
            raise PreparationError(f"--scheduler {scheduler}: {e}") from None
    # One thread per worker process: the jobs keep per-process state (a reused landmark detector) that threads
    # would share, and they hold the GIL for most of their time anyway.
    # The client owns this LocalCluster: closing the client stops its workers.
    return distributed.Client(
        n_workers=max(1, num_workers),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        set_as_default=False,
    )


def _refuse_threaded_workers(client: Any, scheduler: Optional[str]) -> None:
    threaded = {addr: n for addr, n in client.nthreads().items() if n > 1}
    if threaded:
        addr, n = sorted(threaded.items())[0]
        raise PreparationError(
            f"--scheduler {scheduler}: Dask worker {addr} runs {n} threads; the preparation jobs need one thread "
            f"per worker process: start workers with `dask worker {scheduler} --nthreads 1 --nworkers N`"
        )
