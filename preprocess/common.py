"""Shared machinery of the preprocessing CLIs.

* :func:`normalize_transcript` -- configurable transcript normalisation (case, punctuation,
  AMI disfluency tokens).
* :class:`Journal` -- a per-split, append-only record of finished utterances that makes every
  CLI idempotent and resumable: media are written atomically first, the journal line last, so a
  killed run never leaves a row that points at a half-written file.
* :func:`run_jobs` -- the worker loop (in-process or a process pool) with tqdm progress.
* :class:`Summary` -- written / skipped / dropped (with reasons) / failed counts, printed at the end.
* :func:`finish_split` -- writes ``{split}.tsv`` + ``{split}.wrd`` from the journal, only when the
  content changed (a re-run with nothing new writes nothing).
* :func:`output_lock` (``preprocess.locking``) -- one run per output folder (``flock``; the holder's pid
  in the lock file).
* :func:`run_cli` -- the CLIs' error boundary: user and environment errors (a full disk, a read-only
  folder, a missing input) end in one line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import collections
import errno
import filecmp
import hashlib
import json
import multiprocessing
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from tqdm import tqdm

from avhubert_ami.data import manifest as mf
from preprocess import shards
from preprocess.locking import LOCK_NAME, holds_folder, output_lock  # noqa: F401  (the CLIs' lock)
from preprocess.shards import Shard

SAMPLE_RATE = 16000
FPS = 25.0
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)  # 640
ROI_SIZE = 96
SPLITS = ("train", "valid", "test")

# AMI filled pauses / backchannels and annotation tokens (kept by default; --drop_disfluencies removes them).
DISFLUENCY_WORDS = frozenset(
    "uh um mm hmm mm-hmm uh-huh um-hum mm-mm huh er erm ah eh mhm hm uhm".split()
)
_BRACKETED = re.compile(r"^[\[<(].*[\]>)]$")
_PUNCT = re.compile(r"[^\w\s'-]", flags=re.UNICODE)
_LOOSE_DASH = re.compile(r"(?<!\w)-|-(?!\w)")


def is_disfluency(word: str) -> bool:
    """True for AMI filled pauses (``um``, ``mm-hmm``), truncated words (``th-``) and
    annotation tokens (``<vocalsound>``, ``[laughter]``)."""
    w = word.lower()
    return (
        w.strip(".,?!;:\"") in DISFLUENCY_WORDS
        or bool(_BRACKETED.match(w))
        or (len(w) > 1 and w.endswith("-") and w[0].isalnum())
    )


def normalize_transcript(
    text: str, lowercase: bool = True, strip_punctuation: bool = True, keep_disfluencies: bool = True
) -> str:
    """Normalise a transcript: NFKC, optional lower-casing, optional punctuation removal
    (apostrophes and in-word hyphens kept), optional removal of AMI disfluency tokens;
    whitespace is always collapsed."""
    text = unicodedata.normalize("NFKC", text)
    words = text.split()
    if not keep_disfluencies:
        words = [w for w in words if not is_disfluency(w)]
    text = " ".join(words)
    if lowercase:
        text = text.lower()
    if strip_punctuation:
        text = _LOOSE_DASH.sub(" ", _PUNCT.sub(" ", text))
    return " ".join(text.split())


def add_text_args(parser: argparse.ArgumentParser) -> None:
    """Transcript-normalisation flags shared by the CLIs."""
    g = parser.add_argument_group("transcript normalisation")
    g.add_argument("--keep_case", action="store_true", help="do not lower-case transcripts")
    g.add_argument("--keep_punctuation", action="store_true", help="do not strip punctuation")
    g.add_argument(
        "--drop_disfluencies",
        action="store_true",
        help="remove AMI disfluency tokens (um, uh, mm-hmm, truncated words like 'th-', <vocalsound>)",
    )


def text_options(args: argparse.Namespace) -> Dict[str, bool]:
    """Keyword arguments of :func:`normalize_transcript` from parsed :func:`add_text_args` flags."""
    return dict(
        lowercase=not args.keep_case,
        strip_punctuation=not args.keep_punctuation,
        keep_disfluencies=not args.drop_disfluencies,
    )


def add_worker_args(parser: argparse.ArgumentParser) -> None:
    """``--num-workers`` / ``--overwrite`` flags shared by the CLIs."""
    parser.add_argument(
        "--num-workers", "--num_workers", dest="num_workers", type=int, default=1,
        help="worker processes (1 = in this process)",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="forget earlier progress in --output_dir and redo every utterance",
    )
    add_wait_arg(parser)


def add_wait_arg(parser: argparse.ArgumentParser) -> None:
    """``--wait``: queue behind another run writing the same output folder instead of stopping."""
    parser.add_argument(
        "--wait", action="store_true",
        help="when another run is writing the output folder, wait for it to finish instead of stopping",
    )


def safe_name(uid: str) -> str:
    """A file-name-safe form of an utterance id (path separators and odd characters -> '_')."""
    name = re.sub(r"[^\w.\-]+", "_", uid).strip("._")
    return name or hashlib.sha1(uid.encode()).hexdigest()[:12]


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
                    raise SystemExit(
                        f"{path}: this output folder was made with other options\n  before: {lines[0]}\n"
                        f"  now:    {fingerprint}\nuse another --output_dir, or --overwrite to redo everything"
                    )
                for line in lines[1:]:
                    entry = json.loads(line)
                    self.entries[entry["id"]] = entry
        for other in also:
            self._merge(other, fingerprint)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            with mf.atomic_write(path) as f:
                f.write(fingerprint + "\n")
        self._f = open(path, "a", encoding="utf-8")

    def _merge(self, path: str, fingerprint: str) -> None:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")[:-1]  # a torn last line has no newline yet: not finished
        if lines and lines[0] != fingerprint:
            raise SystemExit(f"error: {path}: this shard was run with other options\n  shard: {lines[0]}\n"
                             f"  now:   {fingerprint}\nre-run the shards with the same options, or --overwrite")
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


_WORKER_FN: Optional[Callable] = None


def _init_worker(fn: Callable) -> None:
    global _WORKER_FN
    _WORKER_FN = fn


def _call(job: Tuple[str, Any]) -> Tuple[str, Any, Optional[str]]:
    uid, payload = job
    import av

    try:
        return uid, _WORKER_FN(payload), None
    except (ValueError, OSError, RuntimeError, av.FFmpegError) as e:  # MediaError is a ValueError
        if is_fatal_write_error(e):  # every later utterance would fail the same way: stop the run
            raise OSError(e.errno, os.strerror(e.errno), getattr(e, "filename", None)) from None  # picklable
        return uid, None, f"{type(e).__name__}: {e}"


def run_jobs(
    fn: Callable[[Any], Any], jobs: Iterable[Tuple[str, Any]], num_workers: int, desc: str, total: Optional[int] = None
) -> Iterator[Tuple[str, Any, Optional[str]]]:
    """Run ``fn(payload)`` for every ``(uid, payload)``; yield ``(uid, result, error)`` as they finish.

    Bad-input errors (ValueError/OSError/RuntimeError/av.FFmpegError) become ``error`` strings; a full disk,
    an exceeded quota or a read-only file system (:func:`is_fatal_write_error`) and anything else propagate,
    stopping the run at the first one. ``fn`` must be a module-level function when ``num_workers > 1``.
    """
    bar = tqdm(total=total, desc=desc, unit="utt", dynamic_ncols=True)
    try:
        if num_workers <= 1:
            _init_worker(fn)
            for job in jobs:
                yield _call(job)
                bar.update()
        else:
            # Not plain fork: a parent that already ran threaded code (torch, mediapipe, arrow) can
            # deadlock its forked children. A fork server imports the worker's module once (~10 s with
            # fairseq) and forks clean workers from it.
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            if "forkserver" in methods:
                ctx.set_forkserver_preload([fn.__module__, "preprocess.media"])
            with ctx.Pool(num_workers, initializer=_init_worker, initargs=(fn,)) as pool:
                for out in pool.imap_unordered(_call, jobs, chunksize=1):
                    yield out
                    bar.update()
    finally:
        bar.close()


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

    def __init__(self, output_dir: str, split: str, fingerprint: Dict[str, Any], summary: Summary,
                 overwrite: bool = False, duplicate: str = "duplicate id", shard: Optional[Shard] = None) -> None:
        """``shard``: journal to the shard's own file and write no manifest; otherwise (an unsharded run
        or the assembly after shards) the finished shards' journals count as done."""
        self.output_dir, self.split, self.summary, self.duplicate = output_dir, split, summary, duplicate
        self.shard = shard
        if shard is not None:
            self.journal = Journal(shards.journal_path(output_dir, split, shard), fingerprint, overwrite=overwrite)
        else:
            if overwrite:
                shards.forget(output_dir)
            self.journal = Journal(journal_path(output_dir, split), fingerprint, overwrite=overwrite,
                                   also=shards.finished_journals(output_dir, split))
            # Until finish() the split's manifest is not to be trusted (a killed run or a full disk would
            # leave an older or partial one): load_split and the tokenizer refuse it while this marker exists.
            with mf.atomic_write(mf.incomplete_marker(output_dir, split)) as f:
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
                "every shard has finished, the same command without --num_shards/--shard_index writes the manifests")
            return
        n_rows, _ = finish_split(self.output_dir, self.split, self.order, self.journal)
        os.unlink(mf.incomplete_marker(self.output_dir, self.split))
        self.summary.notes.append(f"{self.split}: {n_rows} rows in {os.path.join(self.output_dir, self.split + '.tsv')}")


_STALE_TMP = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")  # tempfile.mkstemp names of atomic writers


def sweep_stale_temporaries(folder: str, summary: "Summary", only: Optional[str] = None) -> None:
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
        return (f"{os.strerror(e.errno)}{where}: stopped at the first failed write. Finished work is kept and an "
                "unfinished split keeps its <split>.incomplete marker (training and the tokenizer refuse it); "
                "free space and re-run the same command to finish")
    if e.strerror:
        return f"{e.filename}: {e.strerror}" if getattr(e, "filename", None) else e.strerror
    return str(e) or type(e).__name__


def run_cli(body: Callable[[], int]) -> int:
    """Run a CLI's ``body``: bad input files and environment errors (OSError, ManifestError, MediaError)
    end in one ``error: ...`` line on stderr and exit status 1 instead of a traceback."""
    from avhubert_ami.data.errors import MediaError

    try:
        return body()
    except OSError as e:
        raise SystemExit(f"error: {describe_os_error(e)}") from None
    except (mf.ManifestError, MediaError) as e:
        raise SystemExit(f"error: {e}") from None


def journal_path(output_dir: str, split: str) -> str:
    """Where the progress journal of ``split`` lives."""
    return os.path.join(output_dir, ".progress", f"{split}.jsonl")


def media_paths(split: str, uid: str, video_ext: str) -> Tuple[str, str]:
    """Relative (video, audio) paths of an utterance under the output root."""
    name = safe_name(uid)
    return os.path.join(split, "video", name + video_ext), os.path.join(split, "audio", name + ".wav")


def match_av_lengths(n_frames: int, n_samples: int, tolerance_s: float) -> Optional[int]:
    """Audio length (samples) that makes audio and video agree, or ``None`` when they differ by
    more than ``tolerance_s`` (then the row is dropped)."""
    target = n_frames * SAMPLES_PER_FRAME
    if abs(n_samples - target) > tolerance_s * SAMPLE_RATE:
        return None
    return target


def quiet_logging() -> None:
    """CLI start-up: importing fairseq leaves the root logger at DEBUG (matplotlib/PIL chatter);
    mediapipe's C++ side logs through glog/absl. Keep warnings and the tools' own output."""
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


#: ``--video_format`` value -> (file extension, codec) of the written mouth-ROI videos.
VIDEO_FORMATS = {"mkv": (".mkv", "ffv1"), "mp4": (".mp4", "libx264")}


def add_media_args(parser: argparse.ArgumentParser) -> None:
    """``--video_format`` / ``--av_tolerance_s`` / ``--precompute_features`` flags shared by the CLIs that
    write utterances."""
    parser.add_argument("--video_format", default="mkv", choices=sorted(VIDEO_FORMATS),
                        help="mkv = lossless ffv1 (default), mp4 = libx264")
    parser.add_argument("--av_tolerance_s", type=float, default=0.12,
                        help="audio is trimmed/padded to the video length when they differ by at most this; "
                             "rows that differ more are dropped")
    parser.add_argument("--precompute_features", action="store_true",
                        help="also write <audio without .wav>.fbank.npy (104-dim stacked log-fbank at 25 Hz), "
                             "which the dataset reads instead of the wav")


def add_utterance_writer_args(parser: argparse.ArgumentParser) -> None:
    """Media, transcript-normalisation, worker and shard flags of the CLIs that write manifests."""
    add_media_args(parser)
    add_text_args(parser)
    add_worker_args(parser)
    shards.add_shard_args(parser)


def cli_main(parser: argparse.ArgumentParser, convert, title: str, argv: Optional[List[str]] = None) -> int:
    """Parse ``argv``, quiet library logging, run ``convert(args)`` and print its summary (exit status);
    errors end as :func:`run_cli` says."""
    args = parser.parse_args(argv)
    quiet_logging()
    return run_cli(lambda: finalize_run(convert(args), title))


def finalize_run(summary: Summary, title: str) -> int:
    """Print the summary; exit status 1 when some utterances failed, else 0."""
    print(summary.report(title), flush=True)
    return 1 if summary.failed else 0
