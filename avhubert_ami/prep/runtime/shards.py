"""``--num_shards N --shard_index K``: one preparation split over several processes or machines.

Each shard takes a deterministic part of the work (``avhubert-ami-corpus``: whole meetings, round
robin over the partition's sorted meeting list; ``avhubert-hf-to-manifest``: a contiguous row range of each
split; ``avhubert-mouth-roi`` folder mode: a contiguous range of the sorted video list) and writes only its own
files: its utterances' media, its journals ``DIR/.progress/{split}.shard-K-of-N.jsonl``, its state
``DIR/.progress/shard-K-of-N.{running,done}`` and its lock ``DIR/.avhubert_ami.shard-K-of-N.lock``;
never a manifest. Shards may run at the same time on one shared file system; each is resumable on
its own. The same command without the shard flags then assembles ``{split}.tsv``/``.wrd``, counting
every utterance the shards finished as done; while any shard ``0..N-1`` has not finished it refuses,
naming the shard.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

from avhubert_ami.errors import PreparationError
from avhubert_ami.prep.runtime.locking import output_lock, shard_lock_name

_STATE = re.compile(r"^shard-(\d+)-of-(\d+)\.(running|done)$")
_JOURNAL = re.compile(r"^(?P<split>[^.]+)\.shard-(\d+)-of-(\d+)\.jsonl$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    @property
    def tag(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def owns_range(self, position: int, total: int) -> bool:
        """Contiguous blocks: item ``position`` of ``total`` belongs to exactly one shard."""
        return total * self.index // self.count <= position < total * (self.index + 1) // self.count

    def owns_key(self, position: int) -> bool:
        """Round robin over a sorted key list (AMI meetings: balances meetings per shard)."""
        return position % self.count == self.index

    def flags(self) -> str:
        return f"--num_shards {self.count} --shard_index {self.index}"


def shard_from_flags(count: int = 1, index: Optional[int] = None) -> Optional[Shard]:
    """The shard of ``--num_shards count --shard_index index``, or ``None`` for an unsharded (or assembly)
    run; raises :class:`PreparationError` for values that name no shard."""
    if index is None:
        if count != 1:
            raise PreparationError(
                f"--num_shards {count} needs --shard_index 0..{count - 1} (or drop both flags "
                "to assemble the finished shards)"
            )
        return None
    if count < 2 or not 0 <= index < count:
        raise PreparationError(f"--shard_index {index} needs --num_shards N > 1 with 0 <= index < N (got N={count})")
    return Shard(index, count)


def _progress(output_dir: str) -> str:
    return os.path.join(output_dir, ".progress")


def journal_path(output_dir: str, split: str, shard: Shard) -> str:
    """The shard's own journal of ``split``."""
    return os.path.join(_progress(output_dir), f"{split}.{shard.tag}.jsonl")


def _states(output_dir: str) -> Dict[int, Dict[int, str]]:
    """``{count: {index: "running" | "done"}}`` of the shards that ran (or run) in ``output_dir``; a shard
    known only by a journal counts as running."""
    states: Dict[int, Dict[int, str]] = {}
    folder = _progress(output_dir)
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        m, j = _STATE.match(name), _JOURNAL.match(name)
        if m:
            per = states.setdefault(int(m.group(2)), {})
            per[int(m.group(1))] = "done" if m.group(3) == "done" or per.get(int(m.group(1))) == "done" else "running"
        elif j:
            states.setdefault(int(j.group(3)), {}).setdefault(int(j.group(2)), "running")
    return states


def finished_journals(output_dir: str, split: str) -> List[str]:
    """For an unsharded run: the journals of ``split`` written by shards, all of which must be done.

    Raises PreparationError naming the first unfinished (or never run) shard."""
    states = _states(output_dir)
    if not states:
        return []
    if len(states) > 1:
        raise PreparationError(
            f"{output_dir} holds shards of --num_shards {' and '.join(map(str, sorted(states)))}: "
            "finish one set (or pass --overwrite to redo everything)"
        )
    ((count, per),) = states.items()
    for index in range(count):
        if per.get(index) != "done":
            what = "is still running or was interrupted" if index in per else "has not run"
            raise PreparationError(
                f"shard {index} of {count} ({Shard(index, count).tag}) {what} in {output_dir}: run "
                f"the same command with --num_shards {count} --shard_index {index} until it finishes, "
                "then this one"
            )
    return sorted(
        p
        for p in glob.glob(os.path.join(_progress(output_dir), f"{glob.escape(split)}.shard-*.jsonl"))
        if _JOURNAL.match(os.path.basename(p))
    )


def forget(output_dir: str) -> None:
    """``--overwrite`` of an unsharded run: drop every shard's journals and states."""
    folder = _progress(output_dir)
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if _STATE.match(name) or _JOURNAL.match(name):
            os.unlink(os.path.join(folder, name))


@contextlib.contextmanager
def claim_output(output_dir: str, shard: Optional[Shard], wait: bool = False, track: bool = True) -> Iterator[None]:
    """Lock ``output_dir`` for this run: exclusively when unsharded; shared with the other shards plus the
    shard's own lock otherwise. With ``track`` a shard is marked running, and done when the block ends
    without an exception."""
    if shard is None:
        with output_lock(output_dir, wait):
            yield
        return
    with output_lock(output_dir, wait, shared=True), output_lock(output_dir, wait, name=shard_lock_name(shard.tag)):
        if not track:
            yield
            return
        folder = _progress(output_dir)
        os.makedirs(folder, exist_ok=True)
        running, done = (os.path.join(folder, f"{shard.tag}.{s}") for s in ("running", "done"))
        with open(running, "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(done)
        yield
        os.replace(running, done)
