"""Hugging Face dataset (audio + lip_video + transcript) -> AV-HuBERT manifests and media.

    python -m preprocess.hf_to_manifest --dataset_name PATH --output_dir DIR

``PATH`` is a dataset saved with ``save_to_disk`` (DatasetDict or Dataset), a folder of
parquet/csv/json(l)/arrow files whose names (or folders) say train / validation (valid, dev) / test
(media files may sit beside them), or anything else ``datasets.load_dataset`` accepts. Splits
``train`` / ``validation`` (-> ``valid``) / ``test`` become ``DIR/{train,valid,test}.tsv`` + ``.wrd``;
media go to ``DIR/<split>/audio/<id>.wav`` (16 kHz mono) and ``DIR/<split>/video/<id>.mkv``
(25 fps, 96x96 gray, lossless ffv1; ``--video_format mp4`` for libx264). Paths in the tsv are
relative to its root line (the absolute ``DIR``).

Columns: ``audio`` -- an HF ``Audio`` feature (read undecoded, decoded here), a file path, or a
dict ``{array, sampling_rate}``; ``lip_video`` -- a file path (relative paths resolve against the
dataset folder), an undecoded ``{bytes, path}`` dict, or frames T x H x W [x C]; ``transcript``.
The lip video is already a mouth clip: it is only resampled to 25 fps, converted to gray and
resized, unless ``--detect_roi`` asks for face-landmark mouth cropping.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from avhubert_ami.data.errors import MediaError
from preprocess import common, media, shards
from preprocess.landmarks import add_backend_arg

SPLIT_NAMES = {"train": "train", "validation": "valid", "valid": "valid", "dev": "valid", "test": "test"}
# Local data files load_dataset reads, by builder; the split of a file is named in its path.
DATA_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".arrow": "arrow"}
_FILE_SPLITS = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
                "val": "validation", "dev": "validation", "test": "test", "testing": "test", "eval": "test"}


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
        raise SystemExit(f"{folder}: data files of several formats ({', '.join(sorted(found))}): keep one format")
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
        raise SystemExit(f"error: --dataset_name {name}: no such file or folder")
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
            raise SystemExit(f"error: --dataset_name {name}: cannot load it as a saved dataset, a folder of data "
                             f"files or a Hub dataset ({type(e).__name__}: {first})") from None
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
    for split in common.SPLITS:
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
        return wave if int(rate) == common.SAMPLE_RATE else resample_wave(wave, int(rate), common.SAMPLE_RATE)
    if isinstance(value, dict) and value.get("bytes"):
        path = _spill(value["bytes"], value.get("path"), tmpdir, ".wav")
        what = f"audio bytes ({value.get('path') or 'no name'})"
    elif isinstance(value, dict):
        path = _resolve(value["path"], base)
    elif isinstance(value, str):
        path = _resolve(value, base)
    else:
        raise MediaError(f"{where}: unsupported audio value of type {type(value).__name__} "
                         "(expected an Audio feature, a path or {array, sampling_rate})")
    try:
        wave = read_audio(path, sample_rate=common.SAMPLE_RATE, resample=True, mono=True)
    except MediaError as e:
        msg = str(e).replace(path, what) if what else str(e)
        raise MediaError(f"{where}: {msg}") from None
    if wave.size == 0:
        raise MediaError(f"{where}: audio is empty")
    return wave


def decode_video(value: Any, base: str, where: str, tmpdir: str, array_fps: float, detect_roi: bool,
                 backend: str = "auto") -> np.ndarray:
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
            from preprocess.mouth_roi import crop_mouth

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
    return media.resize_frames(media.resample_fps(frames, fps, common.FPS), common.ROI_SIZE)


# ----------------------------------------------------------------------------- worker
def process_row(job: Dict[str, Any]) -> Dict[str, Any]:
    """Decode, convert and write one utterance; returns its journal entry."""
    opts, uid, where = job["opts"], job["id"], job["where"]
    video_rel, audio_rel = common.media_paths(job["split"], uid, opts["video_ext"])
    root = opts["output_dir"]
    with tempfile.TemporaryDirectory(prefix="hf2m-") as tmp:
        frames = wave = None
        if not _is_missing(job["video"]):
            frames = decode_video(job["video"], opts["base"], where, tmp, opts["array_fps"], opts["detect_roi"],
                                  opts["backend"])
        if not _is_missing(job["audio"]):
            wave = decode_audio(job["audio"], opts["base"], where, tmp)
    return media.write_utterance(root, uid, job["text"], video_rel, audio_rel, frames, wave, opts["codec"],
                                 opts["av_tolerance_s"], opts["precompute_features"])


# ----------------------------------------------------------------------------- driver
def _check_columns(args: argparse.Namespace, split: str, ds: Any, summary: common.Summary) -> None:
    """Refuse a split without the transcript column or without both media columns."""
    if args.text_column not in ds.column_names:
        raise SystemExit(f"error: {args.dataset_name} [{split}]: no column {args.text_column!r}; columns are "
                         f"{ds.column_names} (set --text_column)")
    missing = [c for c in (args.audio_column, args.video_column) if c not in ds.column_names]
    if len(missing) == 2:
        raise SystemExit(f"error: {args.dataset_name} [{split}]: neither {missing[0]!r} nor {missing[1]!r} column; "
                         f"columns are {ds.column_names} (set --audio_column/--video_column)")
    for c in missing:
        summary.notes.append(f"note: [{split}] no {c!r} column: that modality is missing for every row")


def convert(args: argparse.Namespace) -> common.Summary:
    """Run the conversion described by parsed CLI ``args`` (holding the output folder's lock); returns
    the summary."""
    summary = common.Summary()
    splits, base, notes = load_splits(args.dataset_name, args.dataset_config, args.single_split)
    summary.notes.extend(notes)
    for split, ds in splits.items():  # every split's columns before any work
        _check_columns(args, split, ds, summary)
    shard = shards.shard_from_args(args)
    with shards.claim_output(args.output_dir, shard, getattr(args, "wait", False)):
        return _convert_locked(args, splits, base, summary, shard)


def _convert_locked(args: argparse.Namespace, splits: Dict[str, Any], base: str, summary: common.Summary,
                    shard: Optional[shards.Shard] = None) -> common.Summary:
    video_ext, codec = common.VIDEO_FORMATS[args.video_format]
    output_dir = os.path.abspath(args.output_dir)
    if shard is None:  # a shard must not touch the others' in-flight temporaries: the assembly sweeps
        common.sweep_stale_temporaries(output_dir, summary)
    opts = dict(output_dir=output_dir, base=base, video_ext=video_ext, codec=codec, array_fps=args.array_fps,
                detect_roi=args.detect_roi, backend=args.backend, av_tolerance_s=args.av_tolerance_s,
                precompute_features=args.precompute_features)
    text_opts = common.text_options(args)
    fingerprint = {k: v for k, v in opts.items() if k not in ("output_dir", "base")}
    fingerprint.update(text_opts, columns=[args.audio_column, args.video_column, args.text_column])
    for split, ds in splits.items():
        ds = _undecoded(_undecoded(ds, args.audio_column), args.video_column)
        run = common.SplitRun(output_dir, split, fingerprint, summary, args.overwrite, shard=shard)
        ids = ds[args.id_column] if args.id_column in ds.column_names else [f"{split}-{i:06d}" for i in range(len(ds))]

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
                where = f"{args.dataset_name} [{split}] row {i} (id {uid!r})"
                if not run.claim(uid):
                    continue
                row = ds[i]
                text = common.normalize_transcript(row.get(args.text_column) or "", **text_opts)
                audio, video = row.get(args.audio_column), row.get(args.video_column)
                if not text:
                    summary.dropped["empty transcript"] += 1
                elif _is_missing(audio) and _is_missing(video):
                    summary.dropped["no audio and no video"] += 1
                else:
                    yield uid, dict(id=uid, split=split, where=where, text=text, audio=audio, video=video, opts=opts)

        run.collect(common.run_jobs(process_row, jobs(), args.num_workers, f"{split}", total=len(ids)))
        run.finish()
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m preprocess.hf_to_manifest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset_name", required=True, help="save_to_disk folder, local data folder or hub name")
    p.add_argument("--dataset_config", default=None, help="configuration name for load_dataset (e.g. 'ihm')")
    p.add_argument("--output_dir", required=True, help="where {split}.tsv/.wrd and media are written")
    p.add_argument("--audio_column", default="audio")
    p.add_argument("--video_column", default="lip_video")
    p.add_argument("--text_column", default="transcript")
    p.add_argument("--id_column", default="id", help="utterance ids (default: <split>-<row index> if absent)")
    p.add_argument("--single_split", default="train", choices=common.SPLITS,
                   help="split name for a dataset that is not a DatasetDict")
    p.add_argument("--array_fps", type=float, default=25.0, help="frame rate of lip_video given as frame arrays")
    p.add_argument("--detect_roi", action="store_true",
                   help="lip_video is a face video: find the mouth with face landmarks (preprocess.mouth_roi)")
    add_backend_arg(p, " for --detect_roi")
    common.add_utterance_writer_args(p)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Console entry point (``avhubert-hf-to-manifest``)."""
    return common.cli_main(build_parser(), convert, "hf_to_manifest", argv)


if __name__ == "__main__":
    sys.exit(main())
