"""Writing files so that a crash, a kill or a full disk never leaves one half-written: the project's one atomic
writer (:func:`atomic_write`), atomic copy and replace-if-changed, and how an ``OSError`` of a write reads in one
line (:func:`describe_os_error`). No third-party imports: the command lines use it before anything heavy.

A temporary ``.NAME.XXXXXXXX.tmp`` is written beside the target, flushed to disk and renamed over it; the old
file stays whole until the new one is complete, and on an error the temporary is removed and the error raised.
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import os
import shutil
import tempfile
from typing import IO, Any, Callable, Iterator, Optional, Tuple


def current_umask() -> int:
    """The process umask, read without changing it where ``/proc`` allows (``os.umask`` can only
    be read by setting it, which races with threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_file_beside(path: str, suffix: str = ".tmp") -> Tuple[int, str]:
    """``(fd, name)`` of a new hidden temporary ``.NAME.XXXXXXXX<suffix>`` in ``path``'s folder (created
    if needed) that will be renamed over ``path``.

    ``mkstemp`` creates files 0600; the temporary gets the mode a plain ``open(path, "w")`` would leave:
    the existing file's mode, or ``0666 & ~umask`` for a new file, so prepared data stays readable by the
    group/others the user's umask allows.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix, dir=folder)
    try:
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", encoding: Optional[str] = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path`` (see :func:`temp_file_beside` for its mode); rename it over
    ``path`` only on success."""
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_copy(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` so that ``dst`` is never seen half-written (temporary + fsync + rename)."""
    folder = os.path.dirname(os.path.abspath(dst))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dst)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, length=16 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, os.stat(src).st_mode & 0o777)  # mkstemp makes 0600; keep the source's mode
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_if_changed(path: str, writer: Callable[[str], Any]) -> bool:
    """Run ``writer(tmp_path)`` and move the result over ``path`` only if it differs; True if written."""
    fd, tmp = temp_file_beside(path, suffix=".new")  # the mode a plain write would give (not 0600)
    os.close(fd)
    try:
        writer(tmp)
        if os.path.exists(path) and filecmp.cmp(tmp, path, shallow=False):
            return False
        os.replace(tmp, path)
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: errno values that make every later write fail too: the run stops at the first one.
FATAL_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def is_fatal_write_error(e: BaseException) -> bool:
    """A full disk, an exceeded quota or a read-only file system."""
    return isinstance(e, OSError) and e.errno in FATAL_WRITE_ERRNOS


def describe_os_error(e: OSError) -> str:
    """One line for an OSError that reached a CLI's top level."""
    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"{os.strerror(e.errno)}{where}: stopped at the first failed write. Finished work is kept and an "
            "unfinished split keeps its <split>.incomplete marker (training and the tokenizer refuse it); "
            "free space and re-run the same command to finish"
        )
    if e.strerror:
        return f"{e.filename}: {e.strerror}" if getattr(e, "filename", None) else e.strerror
    return str(e) or type(e).__name__
