"""Long-form transcription measurements (docs/projections.md, issue 13 §3).

    python benchmarks/transcribe_longform.py --path CKPT --data MANIFEST_DIR [--split test] [--minutes 2.5]
        [--long_minutes 5 10 30] [--beam 5] [--out DIR]

1. Accuracy: held-out audio-visual utterances of ``DATA/SPLIT`` are concatenated (mouth clip + audio, seeded
   pauses of 0.5-2.5 s) into a ``--minutes`` recording, transcribed whole by ``avhubert_ami.transcribe`` and
   decoded one by one from the manifest (``avhubert_ami.decoding.split``). Prints both WERs on the same utterances
   and the segment boundary errors against the true utterance bounds.
2. Real-time factor per stage (audio decode, VAD, ROI, features, decoding) on that recording, and the ROI stage
   on a face video (a photo bundled in scikit-image, 352x288 like an AMI close-up) through preprocess.mouth_roi.
3. Peak memory: recordings of ``--long_minutes`` made by repeating the clips, each transcribed in a fresh process;
   peak RSS should not grow with the length. ``--face_minutes``: the same with a face close-up (mouth ROI on the
   fly) and the audio as a separate wav.

Writes ``OUT/longform.json`` and prints it. ``--no_memory`` skips 3.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avhubert_ami.testing.recordings import manifest_clips, write_face_video, write_long_recording  # noqa: E402


def pick_utterances(data: str, split: str, minutes: float, seed: int):
    """Ids, references, clips and pauses filling about ``minutes`` of recording."""
    from avhubert_ami.data.manifest import load_split

    manifest, _ = load_split(data, split)
    rng = np.random.default_rng(seed)
    rows = [r for r in manifest.rows if r.audio and r.video]
    order = rng.permutation(len(rows))
    chosen, pauses, total = [], [], 0.0
    for i in order:
        pause = float(rng.uniform(0.5, 2.5))
        total += pause + rows[i].n_video_frames / 25
        chosen.append(rows[i].id)
        pauses.append(pause)
        if total >= minutes * 60:
            break
    ids, refs, clips = manifest_clips(data, split, set(chosen))
    order_of = {uid: k for k, uid in enumerate(chosen)}
    loaded = sorted(zip(ids, refs, clips), key=lambda x: order_of[x[0]])
    ids, refs, clips = [x[0] for x in loaded], [x[1] for x in loaded], [x[2] for x in loaded]
    return ids, refs, clips, [pauses[order_of[uid]] for uid in ids]


def boundary_errors(segments, bounds):
    """Per true utterance: the segment overlapping it most, and |start|/|end| differences (s)."""
    errs = []
    for ts, te in bounds:
        best = max(segments, key=lambda s: min(s.end, te) - max(s.start, ts), default=None)
        if best is None or min(best.end, te) <= max(best.start, ts):
            errs.append((float("inf"), float("inf")))
        else:
            errs.append((abs(best.start - ts), abs(best.end - te)))
    starts, ends = np.array([e[0] for e in errs]), np.array([e[1] for e in errs])
    both = np.maximum(starts, ends)
    return {
        "n_utterances": len(bounds),
        "n_segments": len(segments),
        "start_err_mean_s": round(float(np.mean(starts)), 3),
        "end_err_mean_s": round(float(np.mean(ends)), 3),
        "max_err_s": round(float(both.max()), 3),
        "within_0.3s": round(float(np.mean(both <= 0.3)), 4),
    }


def accuracy_and_rtf(args, work: str) -> dict:
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.decoding.split import decode_split
    from avhubert_ami.scoring.wer import error_rate
    from avhubert_ami.transcribe import Transcriber

    ids, refs, clips, pauses = pick_utterances(args.data, args.split, args.minutes, args.seed)
    video, wav = os.path.join(work, "longform.mkv"), os.path.join(work, "longform.wav")
    bounds = write_long_recording(iter(clips), pauses, video, wav)
    search = SearchSettings(beam=args.beam, batch_size=args.batch_size)
    t = Transcriber.from_checkpoint(args.path, search, data_dir=args.data_dir, device="cpu" if args.cpu else None)
    t0 = time.perf_counter()
    segments = t.transcribe(video=video, audio=wav, lip_video=True, progress=True)
    wall = time.perf_counter() - t0
    long_hyp = " ".join(s.text for s in segments if s.text)
    per = decode_split(args.path, args.data, args.split, settings=search, cpu=args.cpu)
    keep = set(ids)
    utts = [u for u in per.utterances if u.id in keep]
    out = {"recording_s": round(t.stats.media_s, 1), "n_utterances": len(ids), "beam": args.beam}
    for norm in ("basic", "kaldi"):
        out[f"wer_longform_{norm}"] = round(error_rate([long_hyp], [" ".join(refs)], normalizer=norm), 2)
        out[f"wer_per_utterance_{norm}"] = round(
            error_rate([u.hyp for u in utts], [u.ref for u in utts], normalizer=norm), 2
        )
    out["boundaries"] = boundary_errors(segments, bounds)
    out["rtf_lip_clip_input"] = {**t.stats.rtf(), "wall_total": round(wall / t.stats.media_s, 4)}
    out["device"] = t.device
    return out


def face_roi_rtf(seconds: float, work: str) -> dict:
    """RTF of the mouth-ROI stage on a 352x288 25 fps face video (the photo moving and zooming)."""
    try:
        import skimage  # noqa: F401  (the photo is scikit-image's, a dev dependency)
    except ImportError as err:
        return {"skipped": str(err)}
    from avhubert_ami.data.video import write_video
    from avhubert_ami.testing.media import astronaut_frames
    from avhubert_ami.transcribe.roi import face_mouth_crops

    rgb, _ = astronaut_frames(int(seconds * 25), zoom=0.6)
    path = os.path.join(work, "face.mp4")
    write_video(path, rgb, fps=25.0, codec="libx264")
    t0 = time.perf_counter()
    frames = face_mouth_crops(path, 0.0, seconds, 25.0)
    dt = time.perf_counter() - t0
    return {"seconds": seconds, "rtf_roi": round(dt / seconds, 4), "frames": 0 if frames is None else len(frames)}


def _child_peak(args, minutes: float, work: str, face: bool = False) -> dict:
    """Build a ``minutes`` recording by repeating clips, transcribe it in a child process, report its peak RSS.
    ``face``: the video is a 352x288 face close-up (the bundled photo moving) instead of the mouth clips, so the
    mouth ROI runs on the fly."""
    ids, refs, clips, pauses = pick_utterances(args.data, args.split, min(args.minutes, 2.0), args.seed)
    per_clip = np.mean([len(c[0]) / 25 + p for c, p in zip(clips, pauses)])
    n = int(np.ceil(minutes * 60 / per_clip))
    video, wav = os.path.join(work, f"long{minutes:g}.mkv"), os.path.join(work, f"long{minutes:g}.wav")
    write_long_recording(islice(cycle(clips), n), list(islice(cycle(pauses), n)), video, wav)
    if face:
        from avhubert_ami.testing.media import astronaut_frames
        from avhubert_ami.transcribe.media import probe

        os.unlink(video)
        video = write_face_video(
            os.path.join(work, f"face{minutes:g}.mp4"), astronaut_frames(100, zoom=0.6)[0], probe(wav).duration
        )
    code = (
        "import json, resource, sys, time\n"
        "from avhubert_ami.decoding.settings import SearchSettings\n"
        "from avhubert_ami.transcribe import Transcriber\n"
        f"s = SearchSettings(beam={args.beam}, batch_size={args.batch_size})\n"
        f"t = Transcriber.from_checkpoint({args.path!r}, s, data_dir={args.data_dir!r}, "
        f"device={'cpu' if args.cpu else None!r})\n"
        "t0 = time.perf_counter()\n"
        f"segs = t.transcribe(video={video!r}, audio={wav!r}, lip_video={not face})\n"
        "print(json.dumps({'media_s': t.stats.media_s, 'wall_s': time.perf_counter() - t0, 'segments': len(segs),"
        " 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'rtf': t.stats.rtf()}))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    res = json.loads(p.stdout.strip().splitlines()[-1])
    os.unlink(video)
    os.unlink(wav)
    res = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in res.items()}
    return {"minutes": minutes, "video": "face (ROI on the fly)" if face else "mouth clip", **res}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--path", required=True, help="fine-tuned checkpoint")
    p.add_argument("--data", required=True, help="manifest folder with SPLIT.tsv/.wrd (held-out utterances)")
    p.add_argument("--split", default="test")
    p.add_argument("--data_dir", default=None, help="dict.wrd.txt folder when the checkpoint lacks it (default: none)")
    p.add_argument("--minutes", type=float, default=2.5, help="length of the accuracy recording")
    p.add_argument("--long_minutes", type=float, nargs="*", default=[5, 10, 30], help="memory-test lengths")
    p.add_argument(
        "--face_minutes",
        type=float,
        nargs="*",
        default=[],
        help="memory-test lengths with a face video (mouth ROI on the fly; needs mediapipe and scikit-image)",
    )
    p.add_argument("--no_memory", action="store_true")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--out", default=None, help="folder for longform.json (default: a temporary folder)")
    args = p.parse_args(argv)
    result = {"checkpoint": os.path.abspath(args.path), "data": os.path.abspath(args.data), "split": args.split}
    with tempfile.TemporaryDirectory(prefix="longform_") as work:
        result["accuracy"] = accuracy_and_rtf(args, work)
        print(json.dumps(result["accuracy"], indent=1), flush=True)
        result["face_roi"] = face_roi_rtf(10.0, work)
        print(json.dumps(result["face_roi"]), flush=True)
        if not args.no_memory:
            result["memory"] = []
            runs = [(m, False) for m in args.long_minutes] + [(m, True) for m in args.face_minutes]
            for m, face in runs:
                result["memory"].append(_child_peak(args, m, work, face))
                print(json.dumps(result["memory"][-1]), flush=True)
    out = args.out or tempfile.mkdtemp(prefix="longform_results_")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "longform.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    print(f"-> {os.path.join(out, 'longform.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
