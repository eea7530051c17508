"""Writing into an output folder: replace-if-changed, sweeping an interrupted run's temporaries, and telling
a full disk / quota / read-only file system (stop the run) from a bad input file (skip the utterance)."""

from __future__ import annotations

import os
import re
from typing import Optional

from avhubert_ami.prep.runtime.locking import holds_folder
from avhubert_ami.prep.runtime.summary import Summary

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
