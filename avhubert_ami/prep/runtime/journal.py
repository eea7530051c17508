"""The resume journal: a per-split, append-only record of finished utterances that makes every recipe
idempotent and resumable. Media are written atomically first and the journal line last, so a killed run never
leaves a row that points at a half-written file; :class:`SplitRun` writes ``{split}.tsv``/``.wrd`` from it."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from avhubert_ami.data import manifest as mf
from avhubert_ami.errors import PreparationError
from avhubert_ami.files import atomic_write, write_if_changed
from avhubert_ami.prep.runtime import shards
from avhubert_ami.prep.runtime.shards import Shard
from avhubert_ami.prep.runtime.summary import Summary


class Journal:
    """Append-only JSON-lines record of finished utterances of one split.

    The first line holds a fingerprint of the options that shape the outputs; reopening with other
    options is refused (or the journal is reset with ``overwrite``). A torn last line (the process
    was killed mid-write) is cut off on open.
    """

    def __init__(self, path: str, options: Dict[str, Any], overwrite: bool = False, also: Sequence[str] = ()) -> None:
        """``also``: other journals (finished shards') whose utterances count as done; read only."""
        self.path = path
        self.entries: Dict[str, Dict[str, Any]] = {}
        fingerprint = json.dumps(options, sort_keys=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if overwrite and os.path.exists(path):
            os.unlink(path)
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            if data and not data.endswith(b"\n"):  # torn write from a killed run
                data = data[: data.rfind(b"\n") + 1]
                with open(path, "wb") as f:
                    f.write(data)
            lines = data.decode("utf-8").splitlines()
            if lines:
                if lines[0] != fingerprint:
                    raise PreparationError(
                        f"{path}: this output folder was made with other options\n  before: {lines[0]}\n"
                        f"  now:    {fingerprint}\nuse another --output_dir, or --overwrite to redo everything"
                    )
                for line in lines[1:]:
                    entry = json.loads(line)
                    self.entries[entry["id"]] = entry
        for other in also:
            self._merge(other, fingerprint)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            with atomic_write(path) as f:
                f.write(fingerprint + "\n")
        self._f = open(path, "a", encoding="utf-8")

    def _merge(self, path: str, fingerprint: str) -> None:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")[:-1]  # a torn last line has no newline yet: not finished
        if lines and lines[0] != fingerprint:
            raise PreparationError(
                f"{path}: this shard was run with other options\n  shard: {lines[0]}\n"
                f"  now:   {fingerprint}\nre-run the shards with the same options, or --overwrite"
            )
        for line in lines[1:]:
            entry = json.loads(line)
            self.entries.setdefault(entry["id"], entry)

    def done(self, uid: str, root: str) -> Optional[Dict[str, Any]]:
        """The finished entry of ``uid`` if its media files are still there, else ``None``."""
        entry = self.entries.get(uid)
        if entry is None:
            return None
        for key in ("video", "audio", "fbank"):
            if entry.get(key) and not os.path.isfile(os.path.join(root, entry[key])):
                return None
        return entry

    def add(self, entry: Dict[str, Any]) -> None:
        """Record a finished (written or dropped) utterance durably."""
        self._f.write(json.dumps(entry, sort_keys=True) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        self.entries[entry["id"]] = entry

    def close(self) -> None:
        self._f.close()


def journal_path(output_dir: str, split: str) -> str:
    """Where the progress journal of ``split`` lives."""
    return os.path.join(output_dir, ".progress", f"{split}.jsonl")


def finish_split(output_dir: str, split: str, order: Sequence[str], journal: Journal) -> Tuple[int, bool]:
    """Write ``{split}.tsv``/``.wrd`` (root = absolute ``output_dir``) from the journal's kept rows
    in ``order``; returns ``(rows, whether anything was rewritten)``."""
    root = os.path.abspath(output_dir)
    kept = [journal.entries[u] for u in order if u in journal.entries and "drop" not in journal.entries[u]]
    rows = [(e["id"], e.get("video", ""), e.get("audio", ""), e["n_video_frames"], e["n_audio_samples"]) for e in kept]
    tsv, wrd = mf.split_paths(output_dir, split)
    changed = write_if_changed(tsv, lambda p: mf.write_tsv(p, root, rows))
    changed |= write_if_changed(wrd, lambda p: mf.write_wrd(p, [e["text"] for e in kept]))
    return len(rows), changed


class SplitRun:
    """Bookkeeping of one split of a manifest-writing CLI: ids in input order, duplicates, what the
    journal already holds, the workers' results, and the final tsv/wrd."""

    def __init__(
        self,
        output_dir: str,
        split: str,
        fingerprint: Dict[str, Any],
        summary: Summary,
        overwrite: bool = False,
        duplicate: str = "duplicate id",
        shard: Optional[Shard] = None,
    ) -> None:
        """``shard``: journal to the shard's own file and write no manifest; otherwise (an unsharded run
        or the assembly after shards) the finished shards' journals count as done."""
        self.output_dir, self.split, self.summary, self.duplicate = output_dir, split, summary, duplicate
        self.shard = shard
        if shard is not None:
            self.journal = Journal(shards.journal_path(output_dir, split, shard), fingerprint, overwrite=overwrite)
        else:
            if overwrite:
                shards.forget(output_dir)
            self.journal = Journal(
                journal_path(output_dir, split),
                fingerprint,
                overwrite=overwrite,
                also=shards.finished_journals(output_dir, split),
            )
            # Until finish() the split's manifest is not to be trusted (a killed run or a full disk would
            # leave an older or partial one): load_split and the tokenizer refuse it while this marker exists.
            with atomic_write(mf.incomplete_marker(output_dir, split)) as f:
                f.write(f"preparation of {split!r} started by pid {os.getpid()} has not finished; re-run it\n")
        self.order: List[str] = []
        self._seen: set = set()

    def claim(self, uid: str) -> bool:
        """Record ``uid`` in order; True when it still has to be processed (a duplicate, or an
        utterance the journal already holds, is counted in the summary instead)."""
        if uid in self._seen:
            self.summary.dropped[self.duplicate] += 1
            return False
        self._seen.add(uid)
        self.order.append(uid)
        done = self.journal.done(uid, self.output_dir)
        if done is None:
            return True
        if "drop" in done:
            self.summary.dropped[done["drop"]] += 1
        else:
            self.summary.already_done += 1
        return False

    def collect(self, results: Iterable[Tuple[str, Optional[Dict[str, Any]], Optional[str]]]) -> None:
        """Journal each ``(uid, entry, error)`` from :func:`run_jobs` and count it."""
        for uid, entry, error in results:
            if error is not None:
                self.summary.failed.append((uid, error))
                continue
            self.journal.add(entry)
            if "drop" in entry:
                self.summary.dropped[entry["drop"]] += 1
            else:
                self.summary.written += 1
                if entry.get("note"):
                    self.summary.notes.append(f"{uid}: {entry['note']}")

    def finish(self) -> None:
        """Close the journal and write ``{split}.tsv``/``.wrd`` from it (a shard writes no manifest)."""
        self.journal.close()
        if self.shard is not None:
            self.summary.notes.append(
                f"{self.split}: {self.shard.tag}: {len(self.journal.entries)} utterances in {self.journal.path}; once "
                "every shard has finished, the same command without --num_shards/--shard_index writes the manifests"
            )
            return
        n_rows, _ = finish_split(self.output_dir, self.split, self.order, self.journal)
        os.unlink(mf.incomplete_marker(self.output_dir, self.split))
        self.summary.notes.append(
            f"{self.split}: {n_rows} rows in {os.path.join(self.output_dir, self.split + '.tsv')}"
        )
