"""The one module that knows the on-disk manifest formats.

* ``{split}.tsv`` -- line 1 is the root directory; every other line is
  ``id<TAB>video_path<TAB>audio_path<TAB>n_video_frames<TAB>n_audio_samples``.
  Relative paths are joined to the root (upstream AV-HuBERT joins only the video
  path and writes absolute audio paths: both forms are accepted). An empty path
  means that modality is missing for the row.
* ``{split}.wrd`` -- one transcript per tsv row, same order.
* ``dict.*.txt`` -- fairseq dictionary: ``symbol count`` per line.

Every reader validates and raises :class:`ManifestError` naming ``file:line``.
Every writer is atomic (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from avhubert_ami.errors import ManifestError
from avhubert_ami.files import atomic_write

N_COLUMNS = 5


@dataclass(frozen=True)
class ManifestRow:
    """One utterance of a split; paths are resolved (absolute or root-joined) or ``None``."""

    id: str
    video: Optional[str]
    audio: Optional[str]
    n_video_frames: int
    n_audio_samples: int
    line: int  # 1-based line number in the tsv, for error messages


@dataclass
class Manifest:
    """A parsed ``.tsv``: its path, root line and rows."""

    path: str
    root: str
    rows: List[ManifestRow]

    def __len__(self) -> int:
        return len(self.rows)

    def where(self, index: int) -> str:
        """``file:line (id)`` of row ``index``, for error messages."""
        row = self.rows[index]
        return f"{self.path}:{row.line} (id {row.id!r})"


def _resolve(root: str, path: str) -> Optional[str]:
    if not path:
        return None
    return path if os.path.isabs(path) else os.path.join(root, path)


def _parse_count(value: str, what: str, where: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise ManifestError(f"{where}: {what} must be an integer, got {value!r}") from None
    if count < 0:
        raise ManifestError(f"{where}: {what} must be >= 0, got {count}")
    return count


def read_tsv(path: str) -> Manifest:
    """Read and validate a split manifest; relative paths are joined to its root line."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines or not lines[0].strip():
        raise ManifestError(f"{path}:1: first line must be the root directory of the split's media")
    root = lines[0].strip()
    rows: List[ManifestRow] = []
    seen = {}
    for lineno, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        where = f"{path}:{lineno}"
        cols = text.split("\t")
        if len(cols) != N_COLUMNS:
            raise ManifestError(
                f"{where}: expected {N_COLUMNS} tab-separated columns "
                f"(id, video, audio, n_video_frames, n_audio_samples), got {len(cols)}"
            )
        uid, video, audio, nv, na = (c.strip() for c in cols)
        if not uid:
            raise ManifestError(f"{where}: empty utterance id")
        if uid in seen:
            raise ManifestError(f"{where}: duplicate id {uid!r} (first seen on line {seen[uid]})")
        seen[uid] = lineno
        if not video and not audio:
            raise ManifestError(f"{where}: row {uid!r} has neither a video nor an audio path")
        rows.append(
            ManifestRow(
                id=uid,
                video=_resolve(root, video),
                audio=_resolve(root, audio),
                n_video_frames=_parse_count(nv, "n_video_frames", where),
                n_audio_samples=_parse_count(na, "n_audio_samples", where),
                line=lineno,
            )
        )
    return Manifest(path=path, root=root, rows=rows)


TsvEntry = Tuple[str, str, str, int, int]


def write_tsv(path: str, root: str, entries: Iterable[TsvEntry]) -> int:
    """Write ``(id, video, audio, n_video_frames, n_audio_samples)`` rows; returns the count.

    Use ``""`` for a missing modality. Paths are written as given (relative to ``root``
    or absolute). Tabs or newlines inside a field are rejected.
    """
    n = 0
    with atomic_write(path) as f:
        f.write(root.rstrip("\n") + "\n")
        for entry in entries:
            if len(entry) != N_COLUMNS:
                raise ManifestError(f"{path}: entry {n + 1} has {len(entry)} fields, expected {N_COLUMNS}")
            fields = [str(x) for x in entry]
            if any("\t" in x or "\n" in x for x in fields):
                raise ManifestError(f"{path}: entry {n + 1} ({fields[0]!r}) has a tab or newline in a field")
            f.write("\t".join(fields) + "\n")
            n += 1
    return n


def read_wrd(path: str, expected_rows: Optional[int] = None, allow_empty: bool = False) -> List[str]:
    """Read one transcript per line; check the count against the tsv and reject empty lines."""
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n").rstrip("\r") for line in f]
    if expected_rows is not None and len(lines) != expected_rows:
        raise ManifestError(
            f"{path}: {len(lines)} transcript lines but the manifest has {expected_rows} rows "
            "(one .wrd line per .tsv row, same order)"
        )
    if not allow_empty:
        for lineno, text in enumerate(lines, start=1):
            if not text.strip():
                raise ManifestError(f"{path}:{lineno}: empty transcript")
    return lines


def write_wrd(path: str, transcripts: Iterable[str]) -> int:
    """Write one transcript per line (newlines inside a transcript become spaces)."""
    n = 0
    with atomic_write(path) as f:
        for text in transcripts:
            f.write(" ".join(str(text).split()) + "\n")
            n += 1
    return n


def read_dict(path: str) -> List[Tuple[str, int]]:
    """Read a fairseq dictionary file as ``[(symbol, count), ...]`` (``#fairseq:overwrite`` kept off)."""
    entries: List[Tuple[str, int]] = []
    seen = set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.rsplit(" ", 1)
            flag_overwrite = False
            if len(parts) == 2 and parts[1] == "#fairseq:overwrite":
                flag_overwrite = True
                parts = parts[0].rsplit(" ", 1)
            if len(parts) != 2:
                raise ManifestError(f"{path}:{lineno}: expected '<symbol> <count>', got {line!r}")
            symbol, count = parts
            if symbol in seen and not flag_overwrite:
                raise ManifestError(f"{path}:{lineno}: duplicate symbol {symbol!r}")
            seen.add(symbol)
            entries.append((symbol, _parse_count(count, "count", f"{path}:{lineno}")))
    if not entries:
        raise ManifestError(f"{path}: dictionary is empty")
    return entries


def write_dict(path: str, entries: Iterable[Tuple[str, int]]) -> int:
    """Write ``symbol count`` lines in fairseq's dictionary format."""
    n = 0
    with atomic_write(path) as f:
        for symbol, count in entries:
            if not symbol or any(c.isspace() for c in symbol):
                raise ManifestError(f"{path}: symbol {symbol!r} is empty or has whitespace")
            f.write(f"{symbol} {int(count)}\n")
            n += 1
    return n


def split_paths(manifest_dir: str, split: str, label_dir: Optional[str] = None, label: str = "wrd") -> Tuple[str, str]:
    """Paths of ``{split}.tsv`` and its labels ``{split}.{label}`` (labels default beside the tsv)."""
    return (
        os.path.join(manifest_dir, f"{split}.tsv"),
        os.path.join(label_dir or manifest_dir, f"{split}.{label}"),
    )


def incomplete_marker(manifest_dir: str, split: str) -> str:
    """``{split}.incomplete`` beside the tsv: present while a preparation run of ``split`` has not
    finished (running, killed, or stopped by a full disk)."""
    return os.path.join(manifest_dir, f"{split}.incomplete")


def check_complete(manifest_dir: str, split: str) -> None:
    """Refuse a split whose preparation did not finish (its manifest may be missing rows)."""
    marker = incomplete_marker(manifest_dir, split)
    if os.path.exists(marker):
        raise ManifestError(
            f"{marker}: the preparation of split {split!r} in {manifest_dir} did not finish (still running, "
            "killed, or stopped on an error such as a full disk), so its manifest may lack rows; re-run the "
            "same preparation command until it ends without an error"
        )


def load_split(
    manifest_dir: str, split: str, label_dir: Optional[str] = None, label: str = "wrd"
) -> Tuple[Manifest, List[str]]:
    """Read ``{split}.tsv`` and its aligned labels, validated against each other (a split whose
    preparation did not finish is refused: :func:`check_complete`)."""
    tsv, wrd = split_paths(manifest_dir, split, label_dir, label)
    check_complete(manifest_dir, split)
    for p in (tsv, wrd):
        if not os.path.isfile(p):
            raise ManifestError(f"{p}: missing (expected {split}.tsv and {split}.{label} for split {split!r})")
    manifest = read_tsv(tsv)
    return manifest, read_wrd(wrd, expected_rows=len(manifest))


def relative_to(root: str, paths: Sequence[Optional[str]]) -> List[str]:
    """Express resolved paths relative to ``root`` ("" for ``None``) for writing a tsv."""
    return ["" if p is None else os.path.relpath(p, root) for p in paths]
