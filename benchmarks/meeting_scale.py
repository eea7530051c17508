"""Memory and real-time factor of ``avhubert-transcribe-meeting`` as a meeting grows (issue 22 §7).

    python benchmarks/meeting_scale.py --path CKPT --data MANIFEST_DIR [--minutes 3 30] [--work DIR] [--out JSON]

For each length in ``--minutes`` a synthetic 4-participant meeting (``avhubert-synth-ami --meetings 1 --closeup
lip``, made once under ``--work`` and reused) is transcribed in a process of its own (headset audio, audio+video
activity and recognition, lip clips); the record keeps its wall time, the real-time factor per stage from its
``ID.json`` and the process's own peak resident memory (``ru_maxrss`` from ``wait4``). Memory that stays flat
from the shortest to the longest meeting shows the media are streamed, never held whole. Writes a measurement record
(``kind: meeting_scale``) that ``scripts/render_results.py`` renders.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from typing import Dict, List, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def meeting(work: str, minutes: float, seed: int) -> str:
    """The folder of a ``minutes``-long synthetic meeting (generated once)."""
    folder = os.path.join(work, f"meeting_{minutes:g}min")
    if not os.path.exists(os.path.join(folder, "synth.done")):
        shutil.rmtree(folder, ignore_errors=True)
        cmd = [os.path.join(BIN, "avhubert-synth-ami"), "--output_dir", folder, "--seed", str(seed), "--meetings", "1"]
        cmd += ["--meeting_minutes", f"{minutes:g}", "--closeup", "lip", "--num_workers", "2"]
        subprocess.run(cmd, check=True)
        open(os.path.join(folder, "synth.done"), "w").close()
    return folder


def transcribe(path: str, data: str, folder: str, out: str) -> Dict[str, object]:
    """One ``avhubert-transcribe-meeting`` run in a child process: wall s, peak RSS MiB, stage RTFs, scores."""
    meeting_id = next(n[: -len(".seglst.json")] for n in os.listdir(folder) if n.endswith(".seglst.json"))
    cmd = [os.path.join(BIN, "avhubert-transcribe-meeting"), "--path", path, "--data", data, "--cpu"]
    cmd += ["--ami_dir", folder, "--meeting", meeting_id, "--lip_video", "--output_dir", out]
    cmd += ["--references", os.path.join(folder, f"{meeting_id}.seglst.json")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak resident memory (KiB on Linux)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"meeting_scale: {' '.join(cmd)} failed with exit status {proc.returncode}")
    peak = usage.ru_maxrss
    with open(os.path.join(out, f"{meeting_id}.json"), encoding="utf-8") as f:
        record = json.load(f)
    return {
        "meeting": meeting_id,
        "duration_s": record["duration_s"],
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "rtf": record["rtf"],
        "cpwer": record["scores"]["cpwer"]["error_rate"],
        "der": record["scores"]["der"]["der"],
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--path", required=True, help="fine-tuned checkpoint (e.g. the demo's checkpoint_best.pt)")
    p.add_argument("--data", required=True, help="its manifest folder (dict.wrd.txt, spm.model)")
    p.add_argument("--minutes", type=float, nargs="+", default=[3.0, 30.0], help="meeting lengths")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", default="meeting_scale_work", help="where the meetings and transcripts go")
    p.add_argument("--out", default=None, help="measurement JSON (default: print only)")
    args = p.parse_args(argv)
    rows: List[Dict[str, object]] = []
    for minutes in args.minutes:
        folder = meeting(args.work, minutes, args.seed)
        row = transcribe(args.path, args.data, folder, os.path.join(args.work, f"out_{minutes:g}min"))
        rows.append(row)
        print(
            f"{minutes:g} min: wall {row['wall_s']} s, RTF {row['rtf']['total']:.3f}, peak {row['peak_rss_mib']} MiB",
            flush=True,
        )
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from cpu_inference import commit, machine  # one way to record where a benchmark ran

    record = {
        "kind": "meeting_scale",
        "title": "meeting transcription as the meeting grows (`benchmarks/meeting_scale.py`)",
        "date": date.today().isoformat(),
        "command": "python benchmarks/meeting_scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": commit(),
        "machine": dict(machine(), load_average_1m=round(os.getloadavg()[0], 2)),
        "rows": rows,
    }
    if args.out:
        from avhubert_ami.files import atomic_write

        with atomic_write(args.out) as f:
            f.write(json.dumps(record, indent=1) + "\n")
        print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
