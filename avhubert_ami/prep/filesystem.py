"""Writing into an output folder: replace-if-changed, sweeping an interrupted run's temporaries, and telling
a full disk / quota / read-only file system (stop the run) from a bad input file (skip the utterance)."""

from __future__ import annotations

import errno
import filecmp
import os
import re
from typing import Any, Callable, Optional

from avhubert_ami.data import manifest as mf
from avhubert_ami.prep.locking import holds_folder
from avhubert_ami.prep.summary import Summary


def write_if_changed(path: str, writer: Callable[[str], Any]) -> bool:
    """Run ``writer(tmp_path)`` and move the result over ``path`` only if it differs; True if written."""
    fd, tmp = mf.temp_file_beside(path, suffix=".new")  # the mode a plain write would give (not 0600)
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


_STALE_TMP = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")  # tempfile.mkstemp names of atomic writers


def sweep_stale_temporaries(folder: str, summary: Summary, only: Optional[str] = None) -> None:
    """Delete the hidden ``.NAME.XXXXXXXX.tmp`` files atomic writers leave when a run is killed
    mid-write: under ``folder``, or just those of the file ``only`` in ``folder``. The count goes to the
    summary's notes. Only while this process holds :func:`output_lock` on ``folder`` (or a folder above
    it): another run's temporaries are in flight, not stale."""
    if not holds_folder(folder, only or ""):
        raise RuntimeError(f"sweeping {folder} without holding its output lock")
    if not os.path.isdir(folder):
        return
    n = 0
    for d, _, files in [(folder, [], os.listdir(folder))] if only else os.walk(folder):
        for f in files:
            m = _STALE_TMP.match(f)
            if m and (only is None or m.group("name") == only):
                os.unlink(os.path.join(d, f))
                n += 1
    if n:
        summary.notes.append(f"note: removed {n} temporary file(s) left by an interrupted run")


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
