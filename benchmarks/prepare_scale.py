"""AMI preparation throughput on a synthetic raw-AMI tree, and the figures to project the full corpus.

    python benchmarks/prepare_scale.py [--meetings 2] [--minutes 2] [--workers 1 2] [--backend auto]
        [--workdir DIR] [--big]

Builds ``--meetings`` meetings in the raw AMI layout (``avhubert_ami.testing.ami_tree.make_ami_tree``):
4 speakers each with a 16 kHz headset wav and a 352x288 MPEG-4 AVI close-up of ``--minutes`` minutes
(``benchmarks/closeups.py``: the astronaut's face swaying and zooming, faces of 50, 80, 100 and 130 px,
a few frames without a face) and NXT annotations in which each speaker talks ~30% of the time in
2-8 s segments (AMI: ~80 h of headset speech in the ~70 h of full-corpus-asr train meetings, i.e.
~30% per speaker). Meeting ids are real full-corpus-asr train ids. Then ``python -m
preprocess.ami_corpus`` runs once per ``--workers`` value (a fresh output folder each time) and prints:
speech seconds prepared per second (wall; and "steady": without the start-up, measured apart), video
frames/s per worker process (steady), CPU seconds (all its processes, sampled: a lower bound), the peak
resident memory of the main process and of each worker (VmHWM, sampled from /proc), the load average.
``--big``: 4 meetings of 5 minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from avhubert_ami.prep.ami import partition_meetings  # noqa: E402
from avhubert_ami.testing.ami_tree import make_ami_tree  # noqa: E402
from benchmarks.closeups import write_closeup  # noqa: E402

FACE_PX = {"1": 50.0, "2": 80.0, "3": 100.0, "4": 130.0}  # per close-up camera
WORDS = "okay so the remote control design should be cheap and the buttons large enough for everybody".split()


def synthetic_meetings(n: int, seconds: float, seed: int = 0) -> Dict[str, list]:
    """``make_ami_tree`` meetings: 4 speakers (channels 0-3, Closeup1-4) talking ~30% of the time."""
    rng = np.random.default_rng(seed)
    meetings = {}
    for mid in partition_meetings("full-corpus-asr")["train"][:n]:
        speakers = []
        for k, agent in enumerate("ABCD"):
            segs, t = [], rng.uniform(0.5, 6.0)
            while True:
                dur = rng.uniform(2.0, 8.0)
                if t + dur > seconds - 0.5:
                    break
                text = " ".join(rng.choice(WORDS, size=max(2, int(dur * 2.5))))
                segs.append((round(t, 2), round(t + dur, 2), text))
                t += dur + rng.uniform(6.0, 20.0)  # mean gap 13 s after a mean 5 s turn: ~28% talking
            speakers.append((agent, f"MEE{100 + k:03d}", k, f"Closeup{k + 1}", segs))
        meetings[mid] = speakers
    return meetings


def build_tree(root: str, n_meetings: int, minutes: float) -> Dict[str, list]:
    """The raw AMI tree under ``root`` (kept between runs with the same size); returns its meetings."""
    seconds = minutes * 60.0
    meetings = synthetic_meetings(n_meetings, seconds)
    stamp = os.path.join(root, f".built_{n_meetings}x{minutes:g}min")
    if not os.path.exists(stamp):
        shutil.rmtree(root, ignore_errors=True)
        make_ami_tree(
            root,
            seconds=seconds,
            meetings=meetings,
            write_closeup=lambda path: write_closeup(path, seconds, FACE_PX[path[-5]]),
        )
        open(stamp, "w").close()
    return meetings


class PeakMemory(threading.Thread):
    """Samples the peak RSS (VmHWM) and CPU time of a process and its descendants every 0.2 s until stopped
    (pool workers are children of a fork server, whose CPU time never reaches our RUSAGE_CHILDREN)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.names, self.cpu_s, self.stop = pid, {}, {}, {}, threading.Event()
        self.parents: Dict[int, int] = {}

    def workers(self) -> List[int]:
        """Pool workers: children of the fork server (or, without one, of the main process)."""
        servers = [p for p, pp in self.parents.items() if pp == self.pid and "forkserver" in self.names.get(p, "")]
        return [p for p, pp in self.parents.items() if pp in (servers or [self.pid]) and p in self.peak_kb]

    def _tree(self) -> List[int]:
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        tree, frontier = [self.pid], [self.pid]
        while frontier:
            frontier = [p for p, pp in parents.items() if pp in frontier]
            tree += frontier
        self.parents.update((p, parents[p]) for p in tree[1:])
        return tree

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        fields = dict(line.split(":", 1) for line in f if ":" in line)
                    with open(f"/proc/{pid}/cmdline") as f:
                        self.names[pid] = f.read().replace("\0", " ")[:120]
                    with open(f"/proc/{pid}/stat") as f:
                        ticks = f.read().rsplit(")", 1)[1].split()[11:13]  # utime, stime
                    self.cpu_s[pid] = sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")
                except OSError:
                    continue
                if "VmHWM" in fields:
                    self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), int(fields["VmHWM"].split()[0]))


def run_corpus(tree: str, out: str, workers: int, backend: str) -> dict:
    """One ``preprocess.ami_corpus`` run: wall/CPU seconds, peak memory per process, its report."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="3")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "preprocess.ami_corpus",
            "--ami_dir",
            tree,
            "--output_dir",
            out,
            "--num_workers",
            str(workers),
            "--backend",
            backend,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sampler = PeakMemory(proc.pid)
    sampler.start()
    report = proc.communicate()[0]
    wall = time.perf_counter() - t0
    sampler.stop.set()
    if proc.returncode != 0:
        raise SystemExit(f"ami_corpus failed:\n{report[-3000:]}")
    workers_mb = sorted((sampler.peak_kb[pid] / 1024 for pid in sampler.workers()), reverse=True) if workers > 1 else []
    return {
        "wall": wall,
        "cpu": sum(sampler.cpu_s.values()),
        "main_mb": sampler.peak_kb.get(proc.pid, 0) / 1024,
        "workers_mb": workers_mb[:workers],
        "report": report,
    }


def startup_seconds() -> float:
    """Wall seconds a process takes to import ``preprocess.ami_corpus`` and lhotse's AMI parser (paid once
    per run, not per utterance: left out of the projection's rate)."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import preprocess.ami_corpus, lhotse.recipes.ami"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def written(out: str) -> Dict[str, float]:
    """Utterances, speech seconds (audio) and video frames in the manifests under ``out``."""
    n = seconds = frames = 0
    for split in ("train", "valid", "test"):
        path = os.path.join(out, f"{split}.tsv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            next(f)  # the root line
            for line in f:
                cols = line.rstrip("\n").split("\t")
                n += 1
                frames += int(cols[3])
                seconds += int(cols[4]) / 16000.0
    return {"utterances": n, "speech_s": seconds, "frames": frames}


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--meetings", type=int, default=2)
    p.add_argument("--minutes", type=float, default=2.0, help="length of each meeting")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--backend", default="auto")
    p.add_argument("--workdir", default=None, help="where the tree and outputs go (default: a temporary folder)")
    p.add_argument("--big", action="store_true", help="4 meetings x 5 minutes")
    args = p.parse_args(argv)
    if args.big:
        args.meetings, args.minutes = 4, 5.0
    workdir = args.workdir or tempfile.mkdtemp(prefix="prepare_scale_")
    tree = os.path.join(workdir, "ami")
    t0 = time.perf_counter()
    meetings = build_tree(tree, args.meetings, args.minutes)
    n_segs = sum(len(spk[4]) for speakers in meetings.values() for spk in speakers)
    print(
        f"tree: {args.meetings} meetings x 4 close-ups x {args.minutes:g} min, {n_segs} segments "
        f"({time.perf_counter() - t0:.0f} s to build or reuse) in {tree}"
    )
    startup = startup_seconds()
    print(
        f"start-up (imports incl. lhotse): {startup:.1f} s (load {os.getloadavg()[0]:.2f}); "
        "'steady' columns leave it out"
    )
    print(
        f"{'workers':>7} {'utts':>5} {'speech s':>8} {'wall s':>7} {'speech s/s':>10} {'steady':>7} "
        f"{'frames/s/proc':>13} {'CPU s':>6} {'main MB':>7} {'worker MB':>14} {'load':>5}"
    )
    for workers in args.workers:
        out = os.path.join(workdir, f"out_{workers}w")
        r = run_corpus(tree, out, workers, args.backend)
        w = written(out)
        peaks = " ".join(f"{mb:.0f}" for mb in r["workers_mb"]) or "-"
        steady = max(r["wall"] - startup, 1e-3)
        print(
            f"{workers:7d} {w['utterances']:5d} {w['speech_s']:8.1f} {r['wall']:7.1f} "
            f"{w['speech_s'] / r['wall']:10.2f} {w['speech_s'] / steady:7.2f} "
            f"{w['frames'] / steady / workers:13.0f} {r['cpu']:6.1f} {r['main_mb']:7.0f} {peaks:>14} "
            f"{os.getloadavg()[0]:5.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
