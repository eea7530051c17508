"""What tests compare folders by."""

from __future__ import annotations

import hashlib
import os
from typing import Dict


def folder_digest(root: str) -> Dict[str, str]:
    """{path relative to ``root``: md5 of its bytes} of every file under ``root``."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.md5(fh.read()).hexdigest()
    return out
