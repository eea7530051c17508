"""Hugging Face dataset (audio + lip_video + transcript) -> AV-HuBERT manifests and media: :func:`prepare_hf_dataset`
(its CLI: ``avhubert-hf-to-manifest --dataset_name PATH --output_dir DIR``; the guide CLI calls it too).

Accepted dataset layouts and column types: ``avhubert-hf-to-manifest --help``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from avhubert_ami.errors import MediaError, PreparationError
from avhubert_ami.prep import media
from avhubert_ami.prep.constants import FPS, ROI_SIZE, SAMPLE_RATE, SPLITS, VIDEO_FORMATS
from avhubert_ami.prep.runtime import shards
from avhubert_ami.prep.runtime.filesystem import sweep_stale_temporaries
from avhubert_ami.prep.runtime.journal import SplitRun
from avhubert_ami.prep.runtime.options import WriterOptions
from avhubert_ami.prep.runtime.summary import Summary
from avhubert_ami.prep.runtime.workers import run_jobs
from avhubert_ami.scoring.text import normalize_text

SPLIT_NAMES = {"train": "train", "validation": "valid", "valid": "valid", "dev": "valid", "test": "test"}
# Local data files load_dataset reads, by builder; the split of a file is named in its path.
DATA_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".arrow": "arrow"}
_FILE_SPLITS = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
    "eval": "test",
}


def local_data_files(folder: str) -> Optional[Tuple[str, Dict[str, List[str]]]]:
    """``(builder, {split: files})`` for a folder of csv/json(l)/parquet/arrow files, or None when it has none.

    Given to ``load_dataset`` explicitly: left to guess, ``datasets`` picks its audio/video folder
    builder when media files outnumber the table files (and then needs torchcodec). A file's split is
    the first of train/validation(valid, val, dev)/test(eval) among its path's words; files naming none
    are train."""
    import re

    found: Dict[str, List[str]] = {}
    for d, _, files in os.walk(folder):
        for f in files:
            ext = os.path.splitext(f)[1].lower()
            if ext in DATA_BUILDERS and not f.startswith(".") and f != "dataset_info.json" and f != "state.json":
                found.setdefault(DATA_BUILDERS[ext], []).append(os.path.join(d, f))
    if not found:
        return None
    if len(found) > 1:
        raise PreparationError(f"{folder}: data files of several formats ({', '.join(sorted(found))}): keep one format")
    builder, paths = next(iter(found.items()))
    splits: Dict[str, List[str]] = {}
    for path in sorted(paths):
        words = re.split(r"[^a-z]+", os.path.relpath(path, folder).lower())
        split = next((_FILE_SPLITS[w] for w in words if w in _FILE_SPLITS), "train")
        splits.setdefault(split, []).append(path)
    return builder, {k: splits[k] for k in ("train", "validation", "test") if k in splits}


# ----------------------------------------------------------------------------- loading
def load_splits(name: str, config: Optional[str], single_split: str) -> Tuple[Dict[str, Any], str, List[str]]:
    """Open the dataset; returns ``({our_split: Dataset}, folder for relative paths, notes)``."""
    import datasets

    notes: List[str] = []
    if not os.path.exists(name) and (os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1):
        raise PreparationError(f"--dataset_name {name}: no such file or folder")
    try:
        ds = datasets.load_from_disk(name)
    except (FileNotFoundError, ValueError):
        files = local_data_files(name) if os.path.isdir(name) and not config else None
        try:
            if files is not None:
                ds = datasets.load_dataset(files[0], data_files=files[1])
            else:
                ds = datasets.load_dataset(name, config) if config else datasets.load_dataset(name)
        except Exception as e:  # noqa: BLE001 -- `datasets` raises many types for a name it cannot load
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise PreparationError(
                f"--dataset_name {name}: cannot load it as a saved dataset, a folder of data "
                f"files or a Hub dataset ({type(e).__name__}: {first})"
            ) from None
    if isinstance(ds, datasets.Dataset):
        ds = datasets.DatasetDict({single_split: ds})
    out: Dict[str, Any] = {}
    for hf_split, d in ds.items():
        ours = SPLIT_NAMES.get(hf_split)
        if ours is None:
            notes.append(f"note: ignored split {hf_split!r} (expected train/validation/test)")
        elif ours in out:
            notes.append(f"note: ignored split {hf_split!r}: {ours!r} already comes from another split")
        else:
            out[ours] = d
    for split in SPLITS:
        if split not in out:
            notes.append(f"warning: split {split!r} is missing from {name} -> no {split}.tsv written")
    base = name if os.path.isdir(name) else os.path.dirname(os.path.abspath(name))
    return out, os.path.abspath(base), notes


def _undecoded(ds: Any, column: Optional[str]) -> Any:
    """Cast HF Audio/Video feature columns to ``decode=False`` (torchcodec-free reading)."""
    import datasets

    if column is None or column not in ds.column_names:
        return ds
    feat = ds.features[column]
    if isinstance(feat, datasets.Audio):
        return ds.cast_column(column, datasets.Audio(decode=False))
    video_feature = getattr(datasets, "Video", None)
    if video_feature is not None and isinstance(feat, video_feature):
        return ds.cast_column(column, video_feature(decode=False))
    return ds


# ----------------------------------------------------------------------------- decoding
def _resolve(path: str, base: str) -> str:
    return path if os.path.isabs(path) else os.path.join(base, path)


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):  # null Array*D cells read as NaN
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, dict):
        return all(_is_missing(value.get(k)) for k in ("bytes", "path", "array"))
    if isinstance(value, (bytes, bytearray)):
        return len(value) == 0
    return np.asarray(value, dtype=object).size == 0


def _spill(data: bytes, hint: Optional[str], tmpdir: str, default_ext: str) -> str:
    ext = os.path.splitext(hint or "")[1] or default_ext
    fd, path = tempfile.mkstemp(suffix=ext, dir=tmpdir)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def decode_audio(value: Any, base: str, where: str, tmpdir: str) -> np.ndarray:
    """Any supported audio cell -> float32 16 kHz mono wave."""
    from avhubert_ami.data.audio import read_audio, resample_wave

    what = None  # how to name a temporary file in messages
    if isinstance(value, dict) and value.get("array") is not None:
        wave = np.asarray(value["array"], dtype=np.float32)
        rate = value.get("sampling_rate")
        if not rate:
            raise MediaError(f"{where}: audio array without sampling_rate")
        if wave.ndim == 2:  # (channels, samples) or (samples, channels) -> mono
            wave = wave.mean(axis=0 if wave.shape[0] < wave.shape[1] else 1)
        if wave.ndim != 1 or wave.size == 0:
            raise MediaError(f"{where}: audio array must be 1-D or 2-D and non-empty, got shape {wave.shape}")
        return wave if int(rate) == SAMPLE_RATE else resample_wave(wave, int(rate), SAMPLE_RATE)
    if isinstance(value, dict) and value.get("bytes"):
        path = _spill(value["bytes"], value.get("path"), tmpdir, ".wav")
        what = f"audio bytes ({value.get('path') or 'no name'})"
    elif isinstance(value, dict):
        path = _resolve(value["path"], base)
    elif isinstance(value, str):
        path = _resolve(value, base)
    else:
        raise MediaError(
            f"{where}: unsupported audio value of type {type(value).__name__} "
            "(expected an Audio feature, a path or {array, sampling_rate})"
        )
    try:
        wave = read_audio(path, sample_rate=SAMPLE_RATE, resample=True, mono=True)
    except MediaError as e:
        msg = str(e).replace(path, what) if what else str(e)
        raise MediaError(f"{where}: {msg}") from None
    if wave.size == 0:
        raise MediaError(f"{where}: audio is empty")
    return wave


def decode_video(
    value: Any, base: str, where: str, tmpdir: str, array_fps: float, detect_roi: bool, backend: str = "auto"
) -> np.ndarray:
    """Any supported lip-video cell -> (T, 96, 96) uint8 gray at 25 fps (``detect_roi``: mouth found by
    the landmark ``backend``)."""
    from avhubert_ami.data.video import probe_video, read_video

    path = what = None
    if isinstance(value, str):
        path = _resolve(value, base)
    elif isinstance(value, dict) and value.get("bytes"):
        path = _spill(value["bytes"], value.get("path"), tmpdir, ".mp4")
        what = f"video bytes ({value.get('path') or 'no name'})"
    elif isinstance(value, dict) and value.get("path"):
        path = _resolve(value["path"], base)
    try:
        if detect_roi:
            from avhubert_ami.prep.mouth_roi import crop_mouth

            if path is not None:
                rgb, fps = media.read_rgb(path)
            else:
                rgb, fps = media.frames_from_array(value, where), array_fps
                if rgb.ndim == 3:
                    rgb = np.repeat(rgb[..., None], 3, axis=-1)
            return crop_mouth(rgb[..., :3], fps, where=where, backend=backend)
        if path is not None:
            frames, fps = read_video(path), probe_video(path).fps
        else:
            frames, fps = media.to_gray(media.frames_from_array(value, where)), array_fps
    except MediaError as e:
        msg = str(e).replace(path, what) if path and what else str(e)
        raise MediaError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    return media.resize_frames(media.resample_fps(frames, fps, FPS), ROI_SIZE)


# ----------------------------------------------------------------------------- worker
def process_row(job: Dict[str, Any]) -> Dict[str, Any]:
    """Decode, convert and write one utterance; returns its journal entry."""
    opts, where = job["opts"], job["where"]
    with tempfile.TemporaryDirectory(prefix="hf2m-") as tmp:
        frames = wave = None
        if not _is_missing(job["video"]):
            frames = decode_video(
                job["video"], opts["base"], where, tmp, opts["array_fps"], opts["detect_roi"], opts["backend"]
            )
        if not _is_missing(job["audio"]):
            wave = decode_audio(job["audio"], opts["base"], where, tmp)
    return media.write_job_utterance(job, frames, wave)


# ----------------------------------------------------------------------------- driver
def _check_columns(dataset_name: str, columns: Columns, split: str, ds: Any, summary: Summary) -> None:
    """Refuse a split without the transcript column or without both media columns."""
    if columns.text not in ds.column_names:
        raise PreparationError(
            f"{dataset_name} [{split}]: no column {columns.text!r}; columns are {ds.column_names} (set --text_column)"
        )
    missing = [c for c in (columns.audio, columns.video) if c not in ds.column_names]
    if len(missing) == 2:
        raise PreparationError(
            f"{dataset_name} [{split}]: neither {missing[0]!r} nor {missing[1]!r} column; "
            f"columns are {ds.column_names} (set --audio_column/--video_column)"
        )
    for c in missing:
        summary.notes.append(f"note: [{split}] no {c!r} column: that modality is missing for every row")


@dataclass(frozen=True)
class Columns:
    """Which dataset columns hold the audio, the lip video, the transcript and the utterance id."""

    audio: str = "audio"
    video: str = "lip_video"
    text: str = "transcript"
    id: str = "id"


def prepare_hf_dataset(
    dataset_name: str,
    output_dir: str,
    *,
    dataset_config: Optional[str] = None,
    columns: Columns = Columns(),
    single_split: str = "train",
    array_fps: float = 25.0,
    detect_roi: bool = False,
    backend: str = "auto",
    writer: WriterOptions = WriterOptions(),
) -> Summary:
    """Convert a Hugging Face dataset into ``output_dir/{train,valid,test}.tsv`` + ``.wrd`` and media.

    ``dataset_name``: a ``save_to_disk`` folder, a folder of data files or a Hub name (``dataset_config``: its
    configuration); ``single_split``: the split name of a dataset that is not a DatasetDict; ``array_fps``: frame
    rate of lip videos given as frame arrays; ``detect_roi``: the lip videos are face videos, cropped with the
    landmark ``backend``. Holds the output folder's lock (or a shard's). Resumable and idempotent. Raises
    :class:`PreparationError` for a dataset it cannot use (no such folder, missing columns, a folder made
    with other options, another run writing there); a bad row is counted in the summary's ``failed``.
    """
    if single_split not in SPLITS:
        raise PreparationError(f"single_split {single_split!r}: expected one of {', '.join(SPLITS)}")
    summary = Summary()
    splits, base, notes = load_splits(dataset_name, dataset_config, single_split)
    summary.notes.extend(notes)
    for split, ds in splits.items():  # every split's columns before any work
        _check_columns(dataset_name, columns, split, ds, summary)
    with shards.claim_output(output_dir, writer.shard, writer.wait), writer.engine.session(writer.num_workers):
        video_ext, codec = VIDEO_FORMATS[writer.video_format]
        output_dir = os.path.abspath(output_dir)
        if writer.shard is None:  # a shard must not touch the others' in-flight temporaries: the assembly sweeps
            sweep_stale_temporaries(output_dir, summary)
        opts = dict(
            output_dir=output_dir,
            base=base,
            video_ext=video_ext,
            codec=codec,
            array_fps=array_fps,
            detect_roi=detect_roi,
            backend=backend,
            av_tolerance_s=writer.av_tolerance_s,
            precompute_features=writer.precompute_features,
        )
        fingerprint = {k: v for k, v in opts.items() if k not in ("output_dir", "base")}
        fingerprint.update(writer.text_options(), columns=[columns.audio, columns.video, columns.text])
        for split, ds in splits.items():
            _convert_split(dataset_name, split, ds, columns, opts, fingerprint, writer, summary)
    return summary


def _convert_split(
    dataset_name: str,
    split: str,
    ds: Any,
    columns: Columns,
    opts: Dict[str, Any],
    fingerprint: Dict[str, Any],
    writer: WriterOptions,
    summary: Summary,
) -> None:
    """Journal, convert and write the manifest of one split (output folder locked)."""
    shard, text_norm = writer.shard, writer.text_normalization()
    ds = _undecoded(_undecoded(ds, columns.audio), columns.video)
    run = SplitRun(opts["output_dir"], split, fingerprint, summary, writer.overwrite, shard=shard)
    ids = ds[columns.id] if columns.id in ds.column_names else [f"{split}-{i:06d}" for i in range(len(ds))]

    uids = [str(raw_id).strip() or f"{split}-{i:06d}" for i, raw_id in enumerate(ids)]
    first: Dict[str, int] = {}
    for i, uid in enumerate(uids):
        first.setdefault(uid, i)

    def jobs():
        for i, uid in enumerate(uids):
            if shard is not None and not shard.owns_range(i, len(uids)):
                continue
            if shard is not None and first[uid] != i:  # the shard of its first row does it
                summary.dropped["duplicate id"] += 1
                continue
            where = f"{dataset_name} [{split}] row {i} (id {uid!r})"
            if not run.claim(uid):
                continue
            row = ds[i]
            text = normalize_text(row.get(columns.text) or "", text_norm)
            audio, video = row.get(columns.audio), row.get(columns.video)
            if not text:
                summary.dropped["empty transcript"] += 1
            elif _is_missing(audio) and _is_missing(video):
                summary.dropped["no audio and no video"] += 1
            else:
                yield uid, dict(id=uid, split=split, where=where, text=text, audio=audio, video=video, opts=opts)

    run.collect(run_jobs(process_row, jobs(), writer.num_workers, f"{split}", len(ids), writer.engine))
    run.finish()
