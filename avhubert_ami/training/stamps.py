"""Stamps: small JSON records written beside a finished step's outputs, naming the inputs it was made from, so a
re-run skips the step while its inputs are unchanged (size and modification time) and redoes it otherwise."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict

from avhubert_ami.files import atomic_write


def file_signature(path: str) -> Dict[str, object]:
    """What a stamp records of an input file: absolute path, size, modification time."""
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def stamp_matches(stamp: Path, record: Dict[str, object]) -> bool:
    """True when ``stamp`` holds ``record`` (a missing or unreadable stamp matches nothing)."""
    try:
        return json.loads(Path(stamp).read_text()) == json.loads(json.dumps(record))
    except (OSError, ValueError):
        return False


def write_stamp(stamp: Path, record: Dict[str, object]) -> None:
    """Write ``record`` to ``stamp`` atomically."""
    with atomic_write(str(stamp)) as f:
        f.write(json.dumps(record, indent=1) + "\n")
