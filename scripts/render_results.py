#!/usr/bin/env python
"""Render ``RESULTS.md`` and the README's demo table from the measurement files under ``docs/measurements/``.

    python scripts/render_results.py           # rewrite RESULTS.md and the README block
    python scripts/render_results.py --check   # exit 1 when either differs from what this renders (the tests run it)

Each file ``docs/measurements/<topic>/<YYYY-MM-DD>_<what>.json`` is one measured run: its ``kind``, ``date``,
``command``, ``commit``, ``machine`` and numbers. ``RESULTS.md`` has one dated section per file, newest first, with
the command, commit, machine and a table; every number in it, prose included, comes from that file. A file whose
``source`` says it was transcribed (numbers copied from an old README because the run's own JSON was not kept) is
labelled "transcribed, raw output not kept". The README's demo table -- between the lines
``<!-- demo-table:begin -->`` and ``<!-- demo-table:end -->`` -- is the newest measured demo run's table.

Updating the demo's figures is the whole procedure below (``make demo`` writes ``demo_out/results.json`` with
everything this script needs)::

    make demo
    cp demo_out/results.json docs/measurements/demo/$(date -u +%F)_seed0.json
    python scripts/render_results.py
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence

try:
    from scripts import demo_report as report
    from scripts.demo_config import SYSTEMS
except ImportError:  # python scripts/render_results.py: this folder is on the path, the checkout need not be
    import demo_report as report
    from demo_config import SYSTEMS

PROG = "render_results"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEASUREMENTS = os.path.join("docs", "measurements")
BEGIN, END = "<!-- demo-table:begin -->", "<!-- demo-table:end -->"
TRANSCRIBED = "transcribed, raw output not kept"

Record = Dict[str, object]


def load(root: str) -> List[Record]:
    """Every measurement file under ``root/docs/measurements``, newest first (``_path``: its path under root)."""
    records = []
    for path in sorted(glob.glob(os.path.join(root, MEASUREMENTS, "*", "*.json"))):
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        name = os.path.basename(path)
        if record.get("date") != name[:10]:
            raise ValueError(f"{path}: its date {record.get('date')!r} is not the file name's ({name[:10]})")
        record["_path"] = os.path.relpath(path, root)
        records.append(record)
    return sorted(records, key=lambda r: (r["date"], r["_path"]), reverse=True)


def transcribed(record: Record) -> bool:
    """True for numbers copied from an old README (``source`` says so), not a run's own output."""
    return str(record.get("source", "")).startswith("transcribed")


def ratio(a: float, b: float, digits: int = 2) -> str:
    """``a / b = r×`` with ``a`` and ``b`` as the tables show them (``digits`` decimals)."""
    return f"{a:.{digits}f} / {b:.{digits}f} = {a / b:.2f}×"


def minutes(seconds: float) -> str:
    """``12 min 20 s``."""
    return f"{int(seconds // 60)} min {round(seconds % 60)} s"


def machine_line(m: Dict[str, object]) -> str:
    """The machine of a record: CPU/GPU, cores, load, versions (only what was recorded)."""
    if "description" in m:
        parts = [str(m["description"])]
    else:
        parts = [f"{m.get('cpu')}, {m.get('cores')} cores"]
        if m.get("load_average_1m_at_end") is not None:
            load = f"{m['load_average_1m']} at the start, {m['load_average_1m_at_end']} at the end"
            parts.append(f"1-min load average {load} (other jobs share the machine: timings are not clean)")
    parts += [f"torch {m['torch']}"] if m.get("torch") else []
    parts += [str(m["fairseq"])] if m.get("fairseq") else []
    parts += [f"Python {m['python']}"] if m.get("python") else []
    return "; ".join(parts)


def header(record: Record, title: str) -> List[str]:
    """A section's title line, its command / commit / machine / file (/ source) lines and its notes."""
    label = f" ({TRANSCRIBED})" if transcribed(record) else ""
    facts = [
        f"Command: `{record['command']}`",
        f"Commit: `{record.get('commit') or 'not recorded'}`",
        f"Machine: {machine_line(record['machine'])}",
        f"File: `{record['_path']}`",
    ] + ([f"Source: {record['source']}"] if record.get("source") else [])
    lines = [f"## {record['date']} — {title}{label}", "", *(f + "  " for f in facts[:-1]), facts[-1], ""]
    return lines + [f"{n}\n" for n in record.get("notes", [])]


def row_of(rows: Sequence[Record], condition: str, system: str, modalities: str = "audio+video") -> Record:
    return next(r for r in rows if (r["condition"], r["modalities"], r["system"]) == (condition, modalities, system))


def demo_ratios(rows: Sequence[Record], value: Callable[[Record], float]) -> str:
    """Clean audio+video: joint search / attention-only search, and + LM / joint search."""
    att, joint, lm = (value(row_of(rows, "clean", s.name)) for s in SYSTEMS)
    return f"joint search / attention-only search {ratio(joint, att)}; + LM / joint search {ratio(lm, joint)}"


def demo_section(r: Record) -> List[str]:
    rows = list(r["results"])
    lines = header(
        r, f"the demo (`scripts/run_demo.py`), seed {r['config']['seed']}" if "config" in r else str(r["title"])
    )
    if "config" in r:
        lines += report.description(r) + [""]
    lines += report.demo_table(r) + [""]
    lines.append(f"Clean audio+video WER: {demo_ratios(rows, lambda x: float(x['wer']))}.")
    if r.get("meetings"):
        meet = r["meetings"]
        lines += ["", f"Meetings ({', '.join(meet['meetings'])}, {meet['config']['meeting_minutes']:g} min each):", ""]
        lines += report.meeting_lines(meet)
    if "timings_s" in r:
        lines += ["", f"{report.step_times(r)}; total {minutes(r['total_s'])}."]
    elif r.get("wall_s"):
        lines += ["", f"Wall time: {minutes(r['wall_s'])}."]
    return lines


def spread_section(r: Record) -> List[str]:
    lines = header(r, f"the demo over seeds {', '.join(map(str, r['seeds']))}")
    for w in r.get("weights_chosen", []):
        lines.append(
            f"* seed {w['seed']}: ctc_weight {w['ctc_weight']:g} without the LM; ctc_weight {w['lm_ctc_weight']:g} + "
            f"lm_weight {w['lm_weight']:g} with it (chosen on its own valid split)"
        )
    lines += [""] + report.spread_table(r["rows"]) + [""]
    lines.append(f"Means, clean audio+video WER: {demo_ratios(r['rows'], lambda x: float(x['wer']['mean']))}.")
    if r.get("wall_s"):
        lines += ["", f"Wall time for the {len(r['seeds'])} seeds: {minutes(r['wall_s'])}."]
    return lines


def attention_only_section(r: Record) -> List[str]:
    lines = header(r, "the demo's model trained without CTC (`--compare_attention_only`)")
    lines += [
        "| test audio | modalities | attention-only training, WER % | CER % | hybrid + joint search (same run), "
        "WER % |",
        "|---|---|---:|---:|---:|",
    ]
    for x in r["rows"]:
        lines.append(
            f"| {x['condition']} | {x['modalities']} | {x['attention_wer']:.2f} | {x['attention_cer']:.2f} | "
            f"{x['hybrid_joint_wer']:.2f} |"
        )
    clean = next(x for x in r["rows"] if (x["condition"], x["modalities"]) == ("clean", "audio+video"))
    joint_vs_attention = ratio(clean["hybrid_joint_wer"], clean["attention_wer"])
    lines += ["", f"Clean audio+video WER, hybrid + joint search / attention-only training: {joint_vs_attention}."]
    if r.get("wall_s"):
        lines += ["", f"Wall time: {minutes(r['wall_s'])}."]
    return lines


def lm_weights_section(r: Record) -> List[str]:
    lines = header(r, str(r["title"]))
    columns = [c for c in ("ctc_weight", "lm_weight", "wer", "sub", "del", "ins") if c in r["rows"][0]]
    names = {"wer": f"{r['split']} WER %", "sub": "subst.", "del": "del.", "ins": "ins."}
    lines += ["| " + " | ".join(names.get(c, c) for c in columns) + " |", "|" + "---:|" * len(columns)]
    for x in r["rows"]:
        lines.append("| " + " | ".join(f"{x[c]:.2f}" if c == "wer" else f"{x[c]:g}" for c in columns) + " |")
    best = min(r["rows"], key=lambda x: x["wer"])
    weights = f"ctc_weight {best['ctc_weight']:g}, lm_weight {best['lm_weight']:g}"
    text = f"Lowest {r['split']} WER: {best['wer']:.2f} ({weights})"
    if r.get("reference"):
        text += f"; against {r['reference']['label']}: {ratio(best['wer'], r['reference']['wer'])}"
    return lines + ["", text + "."]


def benchmark_section(r: Record) -> List[str]:
    lines = header(r, str(r["title"])) + ["| command | what | ours | baseline | speed-up |", "|---|---|---:|---:|---:|"]
    for x in r["rows"]:  # the speed-up as measured: from the unrounded figures
        ours, base = (f"{x[k]:g} {x['unit']}" for k in ("ours", "baseline"))
        lines.append(f"| `{x['command']}` | {x['what']} | {ours} | {base} | **{x['speedup']:.2f}×** |")
    return lines


def gpu_section(r: Record) -> List[str]:
    lines = header(r, str(r["title"]))
    lines += [f"* {name}: {what}" for name, what in r["presets"].items()] + [""]
    lines += [
        "| preset | dtype | attention | median step s | frames/s | tokens/s | peak GiB |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        frames, tokens = (f"{x[k]:,}".replace(",", " ") for k in ("frames_per_s", "tokens_per_s"))
        lines.append(
            f"| {x['preset']} | {x['dtype']} | {x['attention']} | {x['median_step_s']:.3f} | {frames} | {tokens} | "
            f"{x['peak_gib']:.1f} |"
        )
    fp32, fp16 = (
        next(x for x in r["rows"] if (x["preset"], x["dtype"], x["attention"]) == ("base_ami", d, "SDPA"))
        for d in ("fp32", "fp16")
    )
    lines += [
        "",
        f"base_ami with SDPA, median step time fp32 / fp16: {ratio(fp32['median_step_s'], fp16['median_step_s'], 3)}, "
        f"at {fp16['peak_gib']:.1f} GiB peak memory instead of {fp32['peak_gib']:.1f}.",
    ]
    return lines


def cpu_inference_section(r: Record) -> List[str]:
    speed, acc = r["speed"], r["accuracy"]
    lines = header(r, f"CPU inference at each precision, {r['size']}-size model (`benchmarks/cpu_inference.py`)")
    search = speed["search"]
    lines += [
        f"A {speed['recording_s']:g} s lip-clip recording through `avhubert-transcribe`'s code path on a random "
        f"{r['size']}-size model, {speed['threads']} threads, beam {search['beam']}, batches of {search['batch_size']} "
        "segments; real-time factor (seconds per second of recording, median of the repeats) per stage; "
        "`fp32-time-order` is the code before precisions and length-grouped batches.",
        "",
    ]
    configs = speed["configs"]
    stages = list(next(iter(configs.values()))["rtf"])
    lines += ["| configuration | " + " | ".join(stages) + " | speed-up |", "|---|" + "---:|" * (len(stages) + 1)]
    for name, c in configs.items():
        cells = " | ".join(f"{c['rtf'][k]:.3f}" for k in stages)
        lines.append(f"| {name} | {cells} | {c['speed_up_over_baseline']:.2f}× |")
    if acc.get("wer"):
        lines += [
            "",
            f"Accuracy on a trained model (`{os.path.basename(acc['checkpoint'])}`, {acc['split']} split, "
            f"{acc['n_utterances']} utterances, ctc_weight {acc['ctc_weight']:g}, {acc['normalizer']} normaliser):",
            "",
            "| precision | WER % | within " + f"{acc['max_wer_delta']:g} points of fp32 |",
            "|---|---:|---|",
        ]
        lines += [f"| {p} | {w:.2f} | {'yes' if acc['allowed'][p] else 'no'} |" for p, w in acc["wer"].items()]
    else:
        lines += ["", "Accuracy not checked (no trained checkpoint given): every precision counted as allowed."]
    best = r["best"]
    return lines + ["", f"speed-up {best['speed_up']:.2f}× at {best['precision']} over fp32."]


def meeting_scale_section(r: Record) -> List[str]:
    lines = header(r, str(r["title"]))
    lines += [
        "| meeting | minutes | wall s | RTF total | RTF activity / ROI / decoding | peak RSS MiB | cpWER % | DER % |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for x in r["rows"]:
        rtf = x["rtf"]
        lines.append(
            f"| {x['meeting']} | {x['duration_s'] / 60:.1f} | {x['wall_s']:.0f} | {rtf['total']:.3f} | "
            f"{rtf['activity']:.3f} / {rtf['roi']:.3f} / {rtf['decoding']:.3f} | {x['peak_rss_mib']:.0f} | "
            f"{100 * x['cpwer']:.2f} | {100 * (x['der'] or 0):.2f} |"
        )
    short, long = r["rows"][0], r["rows"][-1]
    growth = ratio(long["peak_rss_mib"], short["peak_rss_mib"])
    return lines + [
        "",
        f"Peak memory, longest / shortest meeting: {growth} for {long['duration_s'] / short['duration_s']:.0f}× the "
        "length.",
    ]


SECTIONS: Dict[str, Callable[[Record], List[str]]] = {
    "demo": demo_section,
    "demo_spread": spread_section,
    "attention_only": attention_only_section,
    "lm_weights": lm_weights_section,
    "benchmark": benchmark_section,
    "gpu_step": gpu_section,
    "cpu_inference": cpu_inference_section,
    "meeting_scale": meeting_scale_section,
}


def render_results(records: Sequence[Record]) -> str:
    """``RESULTS.md``: the header (how it is made and updated), then one section per record, newest first."""
    doc = (__doc__ or "").split("::")[-1].strip("\n")
    lines = [
        "# Results",
        "",
        "<!-- generated by scripts/render_results.py from docs/measurements/: edit those files, not this one -->",
        "",
        "Every table and number below is rendered by `scripts/render_results.py` from one JSON file per measured run "
        "under `docs/measurements/<topic>/<YYYY-MM-DD>_<what>.json` (command, commit, machine, date, numbers); the "
        "tests check that this file and the README's demo table equal the render. Sections marked "
        f'"{TRANSCRIBED}" hold numbers copied from an older README because the run\'s own output was not kept; '
        "they were measured in another environment (other package versions) and are not comparable digit for "
        "digit with today's runs. To update the demo's figures:",
        "",
        "```",
        *[line.strip() for line in doc.splitlines()],
        "```",
    ]
    for r in records:
        kind = str(r.get("kind", ""))
        if kind not in SECTIONS:
            raise ValueError(f"{r['_path']}: unknown kind {kind!r}; expected one of {', '.join(SECTIONS)}")
        lines += ["", *SECTIONS[kind](r)]
    return "\n".join(lines).rstrip("\n") + "\n"


def readme_block(records: Sequence[Record]) -> str:
    """The README's demo table (markers included): the newest demo run that was measured, not transcribed."""
    runs = [r for r in records if r.get("kind") == "demo" and not transcribed(r)]
    if not runs:
        raise ValueError(f"no measured demo run under {MEASUREMENTS}/demo/")
    r = runs[0]
    took = f", {minutes(float(r['total_s']))} wall" if r.get("total_s") else ""
    caption = (
        f"`{r['command']}` (the table `make demo` gives), seed {r['config']['seed']}, {r['date']}, commit "
        f"`{str(r['commit'])[:10]}`{took} (machine, load and step times: RESULTS.md, from `{r['_path']}`):"
    )
    return "\n".join([BEGIN, caption, "", *report.demo_table(r), END])


def with_block(readme: str, block: str) -> str:
    """``readme`` with the text between the markers (markers included) replaced by ``block``."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md needs a line {BEGIN} followed by a line {END}")
    return readme[:start] + block + readme[end + len(END) :]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write (or with ``--check`` compare) RESULTS.md and the README block; 1 when ``--check`` finds a
    difference or the README has no markers."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on any difference")
    p.add_argument("--root", default=REPO, help="the checkout (default: this script's)")
    args = p.parse_args(argv)
    records = load(args.root)
    results_path, readme_path = os.path.join(args.root, "RESULTS.md"), os.path.join(args.root, "README.md")
    with open(readme_path, encoding="utf-8") as f:
        readme = f.read()
    want: Dict[str, str] = {results_path: render_results(records)}
    status = 0
    if BEGIN in readme and END in readme:
        want[readme_path] = with_block(readme, readme_block(records))
    else:
        print(f"{PROG}: {readme_path} has no {BEGIN} ... {END} lines: its demo table was not rendered", file=sys.stderr)
        status = 1 if args.check else 0
    for path, text in want.items():
        have = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if have == text:
            continue
        if args.check:
            print(f"{PROG}: {path} differs from the render of {MEASUREMENTS}: run python scripts/render_results.py")
            status = 1
        else:
            from avhubert_ami.files import atomic_write

            with atomic_write(path) as f:
                f.write(text)
            print(f"{PROG}: wrote {path}")
    return status


if __name__ == "__main__":
    os.environ.setdefault("AVHUBERT_AMI_WITHOUT_FAIRSEQ", "1")  # only the atomic writer is needed, not fairseq
    sys.exit(main())
