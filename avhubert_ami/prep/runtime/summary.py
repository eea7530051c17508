"""What a preparation run did, returned by every ``prepare_*`` function and printed by the CLIs."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import List, Tuple


@dataclass
class Summary:
    """What a run did: written, already done (skipped), dropped by rule (with reasons), failed."""

    written: int = 0
    already_done: int = 0
    dropped: collections.Counter = field(default_factory=collections.Counter)
    failed: List[Tuple[str, str]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def report(self, title: str) -> str:
        """Human-readable summary block."""
        lines = [f"== {title} summary ==", f"written: {self.written}", f"skipped (already done): {self.already_done}"]
        n_dropped = sum(self.dropped.values())
        lines.append(f"dropped: {n_dropped}")
        for reason, n in sorted(self.dropped.items()):
            lines.append(f"  {n:6d}  {reason}")
        lines.append(f"failed: {len(self.failed)}")
        for uid, msg in self.failed[:20]:
            lines.append(f"  {uid}: {msg}")
        if len(self.failed) > 20:
            lines.append(f"  ... and {len(self.failed) - 20} more")
        lines.extend(self.notes)
        return "\n".join(lines)
