"""Mouth-ROI speed per process on AMI-like close-ups (issue 14), against PyAV's decode rate of the same file.

    python benchmarks/roi_speed.py [--seconds 120] [--faces 50 80 130] [--backends auto dlib]
        [--baseline_tree DIR] [--profile] [--workdir DIR]

For each face size a 352x288 MPEG-4 AVI close-up is written once (``benchmarks/closeups.py``: the
astronaut photo swaying and zooming, 3 frames without a face every 30 s), then for each backend
``python -m preprocess.mouth_roi`` runs on it in a fresh process: frames/s counts start-up (imports,
model loading) and the written ROI video, as a user sees it. Each figure is printed with the machine's
load average and PyAV's decode rate (decode + RGB conversion) measured right before it, in frames per
second and per CPU-second, and the ratios (the goal: >= 0.15 of the wall rate, i.e. ~250 frames/s). CPU s
is the process's user + system time, start-up included: frames per CPU-second is what one free core gives
this single-threaded pipeline, the comparable figure on a shared machine, where wall rates follow the load.
``--baseline_tree DIR`` (e.g. ``git archive <commit> | tar -x -C DIR``) also runs that tree's code on the
same clips, alternating with the new code (``--repeat N`` times). ``--profile`` adds the CPU seconds per
stage (``benchmarks/roi_profile.py``) for each tree and backend.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.closeups import write_closeup  # noqa: E402

PROFILER = os.path.join(REPO, "benchmarks", "roi_profile.py")


def load() -> str:
    """The 1-minute load average (other processes sharing the CPUs)."""
    return f"{os.getloadavg()[0]:.2f}"


def pyav_rate(path: str) -> Tuple[float, float]:
    """Frames per second and per CPU-second PyAV decodes ``path`` to RGB arrays (one thread, as the ROI step)."""
    import av

    from avhubert_ami.data.video import FrameConverter

    converter = FrameConverter()
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    with av.open(path) as container:
        for frame in container.decode(video=0):
            converter.array(frame, "rgb24")
            n += 1
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def _env(tree: str) -> Dict[str, str]:
    return dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="3")


def run_cli(tree: str, clip: str, backend: str, out_dir: str) -> Dict[str, float]:
    """Wall and CPU seconds of one ``python -m preprocess.mouth_roi`` process (start-up included)."""
    out = os.path.join(out_dir, f"roi_{os.getpid()}_{time.monotonic_ns()}.mkv")
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "preprocess.mouth_roi", "--input", clip, "--output", out, "--backend", backend],
            cwd=tree,
            env=_env(tree),
            stdout=log,
            stderr=log,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own CPU time and peak memory
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            raise SystemExit(f"mouth_roi failed on {clip} ({tree}, {backend}):\n{log.read()[-3000:]}")
    os.unlink(out)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def profile_one(tree: str, clip: str, backend: str, out_dir: str) -> Dict[str, float]:
    """CPU seconds per pipeline stage of one command-line run (``benchmarks/roi_profile.py``)."""
    out = os.path.join(out_dir, "profiled.mkv")
    proc = subprocess.run(
        [sys.executable, PROFILER, clip, out, backend], cwd=tree, env=_env(tree), capture_output=True, text=True
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROFILE ")]
    if proc.returncode != 0 or not line:
        raise SystemExit(f"profiling failed ({tree}, {backend}):\n{proc.stderr[-3000:]}")
    os.unlink(out)
    return json.loads(line[0][len("PROFILE ") :])


def n_frames(path: str) -> int:
    import av

    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=120.0, help="clip length (the issue's goal: a 2-minute clip)")
    p.add_argument("--faces", type=float, nargs="+", default=[50.0, 80.0, 130.0], help="face widths (px)")
    p.add_argument("--backends", nargs="+", default=["auto", "dlib"])
    p.add_argument("--baseline_tree", default=None, help="a source tree of the code to compare with")
    p.add_argument(
        "--baseline_backends",
        nargs="+",
        default=None,
        help="backends to run the baseline with (default: --backends; its dlib takes minutes a clip)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per clip, backend and tree")
    p.add_argument("--profile", action="store_true", help="also print the CPU seconds per stage")
    p.add_argument("--workdir", default=None, help="where clips are cached (default: a temporary folder)")
    args = p.parse_args(argv)
    # importing fairseq (through avhubert_ami) leaves the root logger at DEBUG: PIL's chunk log would bury the table
    logging.getLogger("PIL").setLevel(logging.WARNING)
    workdir = args.workdir or tempfile.mkdtemp(prefix="roi_speed_")
    os.makedirs(workdir, exist_ok=True)
    trees = [("new", REPO)] + ([("baseline", os.path.abspath(args.baseline_tree))] if args.baseline_tree else [])
    print(
        f"{'face':>5} {'backend':>9} {'code':>9} {'frames/s':>9} {'CPU s':>6} {'fr/CPU-s':>8} {'peak MB':>7} "
        f"{'PyAV fps':>8} {'PyAV fr/CPU-s':>13} {'ratio wall':>10} {'ratio CPU':>9} {'load':>5}"
    )
    for face in args.faces:
        clip = os.path.join(workdir, f"closeup_{args.seconds:g}s_face{face:g}.avi")
        if not os.path.exists(clip):
            write_closeup(clip, args.seconds, face)
        n = n_frames(clip)
        for backend in args.backends:
            for _ in range(args.repeat):  # new and baseline alternate: both see the same load
                for name, tree in trees:
                    if name == "baseline" and backend not in (args.baseline_backends or args.backends):
                        continue
                    decode, decode_cpu = pyav_rate(clip)
                    r = run_cli(tree, clip, backend, workdir)
                    fps, fpc = n / r["wall"], n / r["cpu"]
                    print(
                        f"{face:5g} {backend:>9} {name:>9} {fps:9.0f} {r['cpu']:6.1f} {fpc:8.0f} {r['rss_mb']:7.0f} "
                        f"{decode:8.0f} {decode_cpu:13.0f} {fps / decode:10.3f} {fpc / decode_cpu:9.3f} {load():>5}",
                        flush=True,
                    )
    if args.profile:
        clip = os.path.join(workdir, f"closeup_{args.seconds:g}s_face{args.faces[len(args.faces) // 2]:g}.avi")
        for backend in args.backends:
            table = {
                name: profile_one(tree, clip, backend, workdir)
                for name, tree in trees
                if name == "new" or backend in (args.baseline_backends or args.backends)
            }
            print(f"\nCPU seconds per stage, {os.path.basename(clip)}, backend {backend} (load {load()}):")
            print(f"{'stage':<26}" + "".join(f"{name:>10}" for name in table))
            for stage in next(iter(table.values())):
                print(f"{stage:<26}" + "".join(f"{t[stage]:10.2f}" for t in table.values()))


if __name__ == "__main__":
    main()
