"""The raw AMI meeting corpus -> AV-HuBERT manifests: :func:`prepare_ami`, the recipe behind
``avhubert-ami-corpus`` (whose help describes the corpus layout, the segmentation and the options).
"""

from __future__ import annotations

import collections
import os
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

from avhubert_ami.errors import MediaError, PreparationError
from avhubert_ami.prep import media
from avhubert_ami.prep.ami_annotations import (
    Annotations,
    Speaker,
    lhotse_ami_recipe,
    read_camera_map,
    read_segments,
    read_speakers,
)
from avhubert_ami.prep.constants import SAMPLE_RATE, VIDEO_FORMATS
from avhubert_ami.prep.runtime import shards
from avhubert_ami.prep.runtime.filesystem import sweep_stale_temporaries
from avhubert_ami.prep.runtime.journal import SplitRun
from avhubert_ami.prep.runtime.options import WriterOptions
from avhubert_ami.prep.runtime.summary import Summary
from avhubert_ami.prep.runtime.workers import run_jobs
from avhubert_ami.scoring.text import normalize_text

#: the partitions the recipe offers: AMI's official full-corpus-ASR partition (Kaldi's and lhotse's AMI recipes).
#: Their meeting lists have one home, lhotse's ``lhotse.recipes.ami.PARTITIONS`` (:func:`partition_meetings`), which
#: equals the table this recipe kept until it took lhotse's (tests/preparation/test_ami_partitions.py pins it).
PARTITION_NAMES = ("full-corpus-asr",)
SPLIT_OF = {"train": "train", "dev": "valid", "test": "test"}
MICS = ("ihm", "sdm")


def partition_meetings(name: str) -> Dict[str, List[str]]:
    """``{"train"|"dev"|"test": sorted meeting ids}`` of the partition ``name`` (a :data:`PARTITION_NAMES`), from
    lhotse's AMI recipe (imported here, on first use). Raises :class:`PreparationError` for another name."""
    if name not in PARTITION_NAMES:
        raise PreparationError(f"partition {name!r}: expected one of {', '.join(PARTITION_NAMES)}")
    return {split: sorted(meetings) for split, meetings in lhotse_ami_recipe().PARTITIONS[name].items()}


def locate(ami_dir: str, annotations_dir: Optional[str]) -> Tuple[str, str]:
    """``(amicorpus folder, annotations folder or zip)`` of ``--ami_dir`` / ``--annotations_dir``."""
    corpus = (
        ami_dir if os.path.basename(os.path.normpath(ami_dir)) == "amicorpus" else os.path.join(ami_dir, "amicorpus")
    )
    if not os.path.isdir(corpus):
        raise PreparationError(
            f"--ami_dir {ami_dir}: no amicorpus/ folder (expected DIR/amicorpus/<meeting>/audio/...)"
        )
    if annotations_dir:
        return corpus, annotations_dir
    parent = os.path.dirname(os.path.abspath(corpus))
    for cand in ("ami_public_manual_1.6.2", "ami_public_manual_1.6.2.zip"):
        if os.path.exists(os.path.join(parent, cand)):
            return corpus, os.path.join(parent, cand)
    raise PreparationError(f"no ami_public_manual_1.6.2/ (or .zip) beside {corpus}: give --annotations_dir")


def media_files(corpus: str, spk: Speaker, mic: str) -> Tuple[str, Optional[str]]:
    """``(audio path, close-up video path or None)`` of a speaker (audio may not exist)."""
    mdir = os.path.join(corpus, spk.meeting)
    if mic == "ihm":
        audio = os.path.join(mdir, "audio", f"{spk.meeting}.Headset-{spk.channel}.wav")
    else:
        audio = os.path.join(mdir, "audio", f"{spk.meeting}.Array1-01.wav")
    video = None if spk.camera is None else os.path.join(mdir, "video", f"{spk.meeting}.Closeup{spk.camera}.avi")
    return audio, video


def shard_meetings(meetings: Iterable[str], partition_meetings: Iterable[str], shard: shards.Shard) -> Set[str]:
    """The ``meetings`` a shard prepares: whole meetings, round robin over the partition's sorted meeting
    list (stable whichever meetings are present)."""
    order = {m: i for i, m in enumerate(sorted(partition_meetings))}
    return {m for m in meetings if shard.owns_key(order[m])}


def process_segment(job: dict) -> dict:
    """Cut, convert and write one segment; returns its journal entry."""
    import soundfile as sf

    from avhubert_ami.data.audio import resample_wave

    opts = job["opts"]
    start, end = job["start"], job["end"]
    wave = frames = None
    note = None
    if job["audio"]:
        try:
            with sf.SoundFile(job["audio"]) as f:
                rate = f.samplerate
                a, b = int(round(start * rate)), min(int(round(end * rate)), f.frames)
                f.seek(min(a, f.frames))
                data = f.read(max(0, b - a), dtype="float32", always_2d=True)
        except (RuntimeError, OSError) as e:
            raise MediaError(f"{job['audio']}: cannot read audio ({e})") from None
        wave = data.mean(axis=1)
        if rate != SAMPLE_RATE:
            wave = resample_wave(wave, rate, SAMPLE_RATE)
        if wave.size == 0:
            raise MediaError(f"{job['audio']}: no audio between {start}s and {end}s")
    if job["video"]:
        from avhubert_ami.prep.mouth_roi import crop_mouth

        rgb, fps = media.read_rgb(job["video"], start, end)
        try:
            frames = crop_mouth(rgb, fps, where=f"{job['video']} [{start:.2f}-{end:.2f}s]", backend=opts["backend"])
        except MediaError as e:
            if wave is None or "no face found" not in str(e):
                raise
            note = "video left out: no face found in the segment (kept audio-only)"
    entry = media.write_job_utterance(job, frames, wave)
    if note:
        entry["note"] = note
    return entry


def prepare_ami(
    ami_dir: str,
    output_dir: str,
    *,
    mic: str = "ihm",
    partition: str = "full-corpus-asr",
    annotations_dir: Optional[str] = None,
    camera_map: Optional[str] = None,
    min_duration: float = 0.0,
    max_duration: float = float("inf"),
    backend: str = "auto",
    writer: WriterOptions = WriterOptions(),
) -> Summary:
    """Convert the raw AMI corpus under ``ami_dir`` into ``output_dir/{train,valid,test}.tsv`` + ``.wrd`` and media.

    ``mic``: ``ihm`` (headset) or ``sdm`` (first array microphone); ``partition``: one of :data:`PARTITION_NAMES`;
    ``annotations_dir``: the NXT annotations folder or zip (default: beside ``amicorpus/``); ``camera_map``: a file
    of ``meeting agent camera`` lines for speakers ``meetings.xml`` gives no camera; segments shorter than
    ``min_duration`` or longer than ``max_duration`` seconds are dropped; ``backend``: the landmark detector of
    the mouth ROI. Holds the output folder's lock (or a shard's). Resumable and idempotent. Raises
    :class:`PreparationError` for unusable input or options; a bad segment is counted in the summary's ``failed``.
    """
    if mic not in MICS:
        raise PreparationError(f"mic {mic!r}: expected one of {', '.join(MICS)}")
    if partition not in PARTITION_NAMES:
        raise PreparationError(f"partition {partition!r}: expected one of {', '.join(PARTITION_NAMES)}")
    locate(ami_dir, annotations_dir)  # input errors before the output folder is created
    with shards.claim_output(output_dir, writer.shard, writer.wait), writer.engine.session(writer.num_workers):
        return _prepare_locked(
            ami_dir,
            output_dir,
            mic,
            partition,
            annotations_dir,
            camera_map,
            min_duration,
            max_duration,
            backend,
            writer,
        )


def _prepare_locked(
    ami_dir: str,
    output_dir: str,
    mic: str,
    partition_name: str,
    annotations_dir: Optional[str],
    camera_map_file: Optional[str],
    min_duration: float,
    max_duration: float,
    backend: str,
    writer: WriterOptions,
) -> Summary:
    shard = writer.shard
    summary = Summary()
    corpus, ann_path = locate(ami_dir, annotations_dir)
    ann = Annotations(ann_path)
    camera_map = read_camera_map(camera_map_file) if camera_map_file else {}
    speakers = read_speakers(ann, camera_map)
    present = {m for m in os.listdir(corpus) if os.path.isdir(os.path.join(corpus, m))}
    partition = partition_meetings(partition_name)
    listed = {m for ms in partition.values() for m in ms}
    for m in sorted(present - listed):
        summary.notes.append(f"note: meeting {m} is not in partition {partition_name}: ignored")
    output_dir = os.path.abspath(output_dir)
    if shard is None:  # a shard must not touch the others' in-flight temporaries: the assembly sweeps
        sweep_stale_temporaries(output_dir, summary)
    video_ext, codec = VIDEO_FORMATS[writer.video_format]
    opts = dict(
        output_dir=output_dir,
        video_ext=video_ext,
        codec=codec,
        av_tolerance_s=writer.av_tolerance_s,
        backend=backend,
        precompute_features=writer.precompute_features,
    )
    text_opts = writer.text_options()
    fingerprint = dict(
        mic=mic,
        partition=partition_name,
        codec=codec,
        backend=backend,
        tolerance=writer.av_tolerance_s,
        segmentation="lhotse",
        precompute_features=writer.precompute_features,
        **text_opts,
    )
    in_partition = sorted(present & listed)
    all_segments = read_segments(ann, speakers, set(in_partition), summary.notes) if in_partition else []
    missing_cam = sorted(
        {
            (s.speaker.meeting, s.speaker.agent)
            for s in all_segments
            if s.speaker.camera is None and os.path.isdir(os.path.join(corpus, s.speaker.meeting, "video"))
        }
    )
    if missing_cam:
        raise PreparationError(
            f"{ann_path}: corpusResources/meetings.xml has no camera attribute for "
            + ", ".join(f"{m} agent {a}" for m, a in missing_cam[:8])
            + (" ..." if len(missing_cam) > 8 else "")
            + "; give --camera_map FILE with 'meeting agent camera' lines (camera Closeup1..4)"
        )
    missing_media: collections.Counter = collections.Counter()  # absent file -> segments that needed it

    def existing(path: Optional[str]) -> Optional[str]:
        if path is None or os.path.isfile(path):
            return path
        missing_media[path] += 1
        return None

    for part_split, meetings in partition.items():
        split = SPLIT_OF[part_split]
        here = set(meetings) & present
        summary.notes.append(f"{split}: {len(here)} of {len(meetings)} {part_split} meetings present")
        if not here:
            continue
        segments = [s for s in all_segments if s.speaker.meeting in here]
        if shard is not None:
            here = shard_meetings(here, listed, shard)
            segments = [s for s in segments if s.speaker.meeting in here]
        run = SplitRun(output_dir, split, fingerprint, summary, writer.overwrite, "duplicate segment", shard)

        def jobs(segments=segments, run=run, split=split) -> Iterator[Tuple[str, dict]]:
            for seg in segments:
                uid = seg.uid
                if not run.claim(uid):
                    continue
                dur = seg.end - seg.start
                text = normalize_text(seg.text, writer.text_normalization())
                if not text:
                    summary.dropped["empty transcript"] += 1
                    continue
                if dur < min_duration or dur > max_duration:
                    summary.dropped[f"duration outside [{min_duration}, {max_duration}] s"] += 1
                    continue
                audio, video = tuple(existing(p) for p in media_files(corpus, seg.speaker, mic))
                if audio is None and video is None:
                    summary.dropped["no audio and no close-up video file"] += 1
                    continue
                yield (
                    uid,
                    dict(
                        id=uid,
                        split=split,
                        start=seg.start,
                        end=seg.end,
                        text=text,
                        audio=audio,
                        video=video,
                        opts=opts,
                    ),
                )

        run.collect(run_jobs(process_segment, jobs(), writer.num_workers, split, len(segments), writer.engine))
        run.finish()
    for path, n in sorted(missing_media.items())[:20]:
        summary.notes.append(f"note: no {path}: {n} segment(s) of it kept without that modality (or dropped)")
    if len(missing_media) > 20:
        summary.notes.append(f"note: ... and {len(missing_media) - 20} more missing media files")
    return summary
