"""One writer per output folder: ``flock`` locks of the preparation CLIs.

* An unsharded run holds ``DIR/.avhubert_ami.lock`` exclusively (its pid written inside).
* A shard run (``--num_shards N --shard_index K``) holds that file *shared*, so shards run side by side
  while an unsharded run (the assembly) cannot start, plus ``DIR/.avhubert_ami.shard-K-of-N.lock``
  exclusively, so each shard runs once at a time.
* ``mouth_roi`` in file mode locks only its output file (``.NAME.lock``).

An exclusive holder removes its lock file on release; every locker re-checks after locking that the
file it locked is still the one at the path (else it retries), so a removed file never lets two
holders in. A killed holder's lock is released by the kernel. On NFS, Linux emulates ``flock`` with
POSIX locks, which exclude other processes (each run is one) but not other descriptors of one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
from typing import Iterator, Set, Tuple

from avhubert_ami.errors import PreparationError

LOCK_NAME = ".avhubert_ami.lock"
_SHARD_LOCK = re.compile(r"^\.avhubert_ami\.(shard-\d+-of-\d+)\.lock$")
_HELD: Set[Tuple[str, str]] = set()  # (folder, lock file name) held exclusively by this process


def shard_lock_name(tag: str) -> str:
    """Lock file name of the shard ``tag`` (``shard-K-of-N``)."""
    return f".avhubert_ami.{tag}.lock"


def _pid_in(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read(32).strip()
    except OSError:
        return "pid unknown"
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _holders(folder: str, name: str) -> str:
    """Who holds ``folder/name``: the pid in the file (an exclusive holder writes it), else, for the
    main lock held shared, the shards whose own lock files are there."""
    pid = _pid_in(os.path.join(folder, name))
    if name == LOCK_NAME and pid == "pid unknown":
        shards = sorted(
            f"{m.group(1)} {_pid_in(os.path.join(folder, f))}"
            for f in os.listdir(folder)
            for m in [_SHARD_LOCK.match(f)]
            if m
        )
        if shards:
            return "shard runs: " + ", ".join(shards)
    return pid


def _open_for_lock(folder: str, path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise PreparationError(f"cannot write in {folder}: {e.strerror} (choose a writable output folder)") from None


@contextlib.contextmanager
def output_lock(
    folder: str, wait: bool = False, name: str = LOCK_NAME, create: bool = True, shared: bool = False
) -> Iterator[None]:
    """Hold ``flock`` on ``folder/name`` (exclusive, or ``shared``) for the ``with`` block.

    Another holder makes this stop with ``error: another run (...) is writing to DIR`` naming its pid,
    or wait for it when ``wait``. ``folder`` is created when ``create`` (else a missing folder is an
    error).
    """
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        if not create:
            raise PreparationError(f"{folder}: no such folder")
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise PreparationError(f"cannot create the output folder {folder}: {e.strerror}") from None
    path = os.path.join(folder, name)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    while True:
        fd = _open_for_lock(folder, path)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holders = _holders(folder, name)
            if not wait:
                os.close(fd)
                raise PreparationError(
                    f"another run ({holders}) is writing to {folder}; let it finish, or pass "
                    "--wait to start when it is done"
                ) from None
            print(f"waiting: another run ({holders}) is writing to {folder} ...", file=sys.stderr, flush=True)
            fcntl.flock(fd, mode)
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        held = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev):
            break
        os.close(fd)  # the previous holder removed this file while we waited: lock the new one
    os.ftruncate(fd, 0)  # a killed exclusive holder's pid must not be reported for shared holders
    if not shared:
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD.add((folder, name))
    try:
        yield
    finally:
        if not shared:
            _HELD.discard((folder, name))
            with contextlib.suppress(OSError):
                os.unlink(path)  # still holding it: waiters re-check the inode
        os.close(fd)


def holds_folder(folder: str, only: str = "") -> bool:
    """True when this process holds the exclusive lock of ``folder`` (or of a folder above it), or,
    for the single file ``only``, that file's own lock."""
    here = os.path.abspath(folder)
    if only and (here, f".{only}.lock") in _HELD:
        return True
    return any(name == LOCK_NAME and (here == d or here.startswith(d.rstrip(os.sep) + os.sep)) for d, name in _HELD)
