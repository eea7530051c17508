"""Lint: no PyAV frame conversion behind PyAV's per-thread swscale context (``make lint`` runs it).

``frame.to_ndarray(format=...)`` and ``frame.reformat(...)`` convert through a context PyAV (>= 18.1.1) keeps per
thread, with slice threads; a process forked while such a thread lives (DataLoader workers, preparation pools)
waits forever in the child. Convert through ``avhubert_ami.data.video.FrameConverter`` instead.

    python scripts/check_frame_conversions.py [FOLDER ...]   # default: the package, benchmarks, scripts, tests
"""

from __future__ import annotations

import ast
import pathlib
import sys
from typing import List, Sequence

REPO = pathlib.Path(__file__).resolve().parent.parent
FOLDERS = ("avhubert_ami", "benchmarks", "scripts", "tests")
# the one deliberate use: the tests' reference conversion, on a thread that ends before it returns
ALLOWED = frozenset({"tests/support/video.py"})


# VideoFrame methods that always convert through the per-thread context
_ALWAYS = frozenset({"to_rgb", "to_image"})


def implicit_conversions(source: str) -> List[int]:
    """Lines calling ``<x>.to_ndarray(format=...)``, ``<x>.to_rgb()``, ``<x>.to_image()`` or ``<x>.reformat(...)``
    on anything but our own reformatter."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name == "to_ndarray" and any(k.arg == "format" for k in node.keywords):
            found.append(node.lineno)
        elif name in _ALWAYS or (name == "reformat" and ast.unparse(node.func.value) != "self._reformatter"):
            found.append(node.lineno)
    return sorted(found)


def offenders(root: pathlib.Path, folders: Sequence[str]) -> List[str]:
    """``path:line`` of every implicit conversion under ``root/folder`` (paths relative to ``root``)."""
    out = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel not in ALLOWED:
                out.extend(f"{rel}:{line}" for line in implicit_conversions(path.read_text()))
    return out


def main(argv: Sequence[str] = ()) -> int:
    found = offenders(REPO, list(argv) or FOLDERS)
    for where in found:
        print(f"{where}: converts a frame through PyAV's per-thread context; use data.video.FrameConverter")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
