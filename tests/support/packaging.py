"""What setup.py declares, read as data (the installed metadata may belong to another checkout)."""

from __future__ import annotations

import ast
from typing import Dict

from tests.support import REPO


def console_scripts() -> Dict[str, str]:
    """setup.py's ``CONSOLE_SCRIPTS``: ``{script name: "module:function"}``."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    scripts = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CONSOLE_SCRIPTS"
    )
    return dict(s.split("=", 1) for s in scripts)
