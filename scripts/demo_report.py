"""Reporting of the demo (``scripts/run_demo.py``): each step's log and times, its ``results.json`` schema,
``results.md``, the spread over seeds, the validation-curve plot, and where a run happened (command, commit, machine).

``results.json`` (what :func:`write_report` writes, and what ``scripts/render_results.py`` renders from a copy under
``docs/measurements/demo/``): ``config`` (the :class:`run_demo.DemoConfig`), ``results`` (one row per test condition x
system: ``condition``, ``modalities``, ``system``, ``training``, ``ctc_weight``, ``lm_weight``, ``normalizer``,
``wer``, ``cer``, ``n_utterances``, ``decode_dir``), ``chance`` (the most-frequent-word row), ``weights`` (the
``weights.json`` record: ``by_modalities`` -> :meth:`TunedWeights.record`), ``test_overlap_percent``, ``timings_s``
and ``cpu_s`` per step, ``total_s``, and the provenance ``command``, ``commit``, ``machine``, ``date``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import select
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

RowKey = Tuple[str, str, str]

#: chatter kept in a step's log but not shown on the console
_NOISE = re.compile(rb"^\r?(Saving the dataset|DEBUG:|INFO:datasets|  warnings\.warn)|DeprecationWarning")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    return sum(getattr(resource.getrusage(w), f) for w in who for f in ("ru_utime", "ru_stime"))


@contextlib.contextmanager
def tee_output(log_path: str) -> Iterator[None]:
    """Everything written to file descriptors 1 and 2 meanwhile -- this process's prints and logs, and the output
    of its child processes (trainers) -- goes to ``log_path`` and to the console (stdout; chatter filtered).

    The step ends when its output is drained, not at end-of-file: a helper process started during the step (the
    preparation's multiprocessing fork server) keeps the pipe open for good, and what it writes later still
    reaches the console."""
    sys.stdout.flush(), sys.stderr.flush()
    console, saved_err = os.dup(1), os.dup(2)
    read_end, write_end = os.pipe()
    log, step_over, logged = open(log_path, "wb"), threading.Event(), threading.Event()

    def pump() -> None:
        pending = b""
        while True:
            if not select.select([read_end], [], [], 0.1)[0]:  # idle
                if step_over.is_set() and not logged.is_set():
                    log.close(), logged.set()
                continue
            chunk = os.read(read_end, 1 << 16)
            if not chunk:  # every writer is gone
                break
            if not logged.is_set():
                log.write(chunk)
            *lines, pending = re.split(rb"(?<=[\r\n])", pending + chunk)  # tqdm's lines end in \r
            os.write(console, b"".join(line for line in lines if not _NOISE.search(line)))
        os.write(console, pending)
        if not logged.is_set():
            log.close(), logged.set()
        os.close(read_end), os.close(console)

    threading.Thread(target=pump, daemon=True).start()
    os.dup2(write_end, 1), os.dup2(write_end, 2), os.close(write_end)
    try:
        yield
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(console, 1), os.dup2(saved_err, 2), os.close(saved_err)
        step_over.set()
        logged.wait()


class StepLog:
    """Progress lines on the console, each step's output in ``LOGS/<step>.log``, wall and CPU seconds per step."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir, self.t0 = log_dir, time.time()
        self.timings: Dict[str, float] = {}
        self.cpu_times: Dict[str, float] = {}  # user+sys CPU s, children included: comparable on a loaded machine

    def say(self, msg: str) -> None:
        """A progress line, stamped with the seconds since the run started."""
        print(f"[demo {time.time() - self.t0:6.0f}s] {msg}", flush=True)

    @contextlib.contextmanager
    def step(self, name: str, what: str) -> Iterator[None]:
        """Time the step ``name`` (``what``: how it is run, shown first) and keep its output in its log."""
        os.makedirs(self.log_dir, exist_ok=True)
        start, cpu = time.time(), cpu_seconds()
        with tee_output(os.path.join(self.log_dir, f"{name}.log")):
            self.say(f"{name}: {what}")
            yield
            self.say(f"{name}: done in {time.time() - start:.0f}s")
        self.timings[name] = self.timings.get(name, 0.0) + time.time() - start
        self.cpu_times[name] = self.cpu_times.get(name, 0.0) + cpu_seconds() - cpu

    def record(self) -> Dict[str, object]:
        """``timings_s``, ``cpu_s`` and ``total_s`` for ``results.json``."""
        return {"timings_s": self.timings, "cpu_s": self.cpu_times, "total_s": time.time() - self.t0}


CHANCE_SYSTEM = "chance (most frequent word)"


def row_key(row: Dict[str, object]) -> RowKey:
    """``(condition, modalities, system)``: what identifies a row across seeds."""
    return str(row["condition"]), str(row["modalities"]), str(row["system"])


def results_table(rows: Sequence[Dict[str, object]]) -> List[str]:
    """Markdown lines of one run's table (the rows in the order given)."""
    lines = [
        "| test audio | modalities | system | ctc_weight | lm_weight | WER % | CER % | utterances | normalizer |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {r['modalities']} | {r['system']} | {r['ctc_weight']:g} | "
            f"{r['lm_weight']:g} | {r['wer']:.2f} | {r['cer']:.2f} | {r['n_utterances']} | "
            f"{r['normalizer']} |"
        )
    return lines


def spread(runs: Dict[int, Sequence[Dict[str, object]]]) -> List[Dict[str, object]]:
    """Mean, min and max WER/CER of each row over the seeds of ``runs`` (``{seed: rows}``), in first-run order.

    A row missing from some seed is an error: the seeds ran different pipelines and are not comparable.
    """
    if not runs:
        raise ValueError("no runs to summarise")
    keyed = {seed: {row_key(r): r for r in rows} for seed, rows in runs.items()}
    out = []
    for key in (row_key(r) for r in next(iter(runs.values()))):
        missing = [s for s, rows in keyed.items() if key not in rows]
        if missing:
            raise ValueError(f"row {key} is missing from seed(s) {missing}")
        entry: Dict[str, object] = dict(zip(("condition", "modalities", "system"), key))
        entry.update(seeds=sorted(keyed), normalizer=keyed[next(iter(keyed))][key]["normalizer"])
        for metric in ("wer", "cer"):
            values = [float(keyed[s][key][metric]) for s in sorted(keyed)]
            entry[metric] = {
                "mean": sum(values) / len(values),
                "min": min(values),
                "max": max(values),
                "values": values,
            }
        out.append(entry)
    return out


def spread_table(entries: Sequence[Dict[str, object]]) -> List[str]:
    """Markdown lines of :func:`spread`'s summary."""
    lines = [
        "| test audio | modalities | system | WER % mean | min | max | CER % mean | min | max | normalizer |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in entries:
        w, c = e["wer"], e["cer"]
        lines.append(
            f"| {e['condition']} | {e['modalities']} | {e['system']} | {w['mean']:.2f} | {w['min']:.2f} | "
            f"{w['max']:.2f} | {c['mean']:.2f} | {c['min']:.2f} | {c['max']:.2f} | {e['normalizer']} |"
        )
    return lines


def demo_table(results: Dict[str, object]) -> List[str]:
    """The table of a demo's ``results.json``: its rows, then the chance row."""
    return results_table(list(results["results"]) + [results["chance"]])


def weights_summary(weights: Dict[str, object]) -> str:
    """``audio+video: ctc 0.7; ctc 0.7 + lm 0``: each modality set's joint choice, then its choice with the LM."""
    return ", ".join(
        f"{label}: ctc {j['ctc_weight']:g}; ctc {w['ctc_weight']:g} + lm {w['lm_weight']:g}"
        for label, (j, w) in ((k, (r["joint"], r["chosen"])) for k, r in weights["by_modalities"].items())
    )


def interference(config: Dict[str, object]) -> str:
    """``, interfering speech p=0.25 at 0,10 dB`` when the run trained with it (older runs: "")."""
    if not config.get("interference_prob"):
        return ""
    return f", interfering speech p={config['interference_prob']} at {config['interference_snr']} dB"


def precision(results: Dict[str, object]) -> str:
    """``, decoded at int8 (--precision auto)`` when the rows record their precision (older runs: "")."""
    used = sorted({str(r["precision"]) for r in results["results"] if r.get("precision")})
    return f", decoded at {' / '.join(used)} (--precision auto)" if used else ""


def description(results: Dict[str, object]) -> List[str]:
    """The two paragraphs of ``results.md`` that say what a run did: corpus and training; weights and LM."""
    c, overlap = results["config"], results["test_overlap_percent"]
    return [
        f"Corpus: {c['n_train']} train / {c['n_valid']} valid / {c['n_test']} test utterances (held-out speakers) of "
        f"{c['min_words']}-{c['max_words']} words ({c['text_mode']}), seed {c['seed']}; noisy = babble at "
        f"{c['snr']:g} dB SNR (same video, so video-only is decoded once). Training: {c['max_updates']} updates of "
        f"{c['batch_size']} utterances, hybrid CTC/attention (ctc_weight {c['ctc_weight']:g}), modality dropout audio "
        f"{c['audio_drop_prob']} / video {c['visual_drop_prob']}, noise augmentation p={c['noise_prob']} SNR "
        f"{c['noise_snr']} dB{interference(c)}. Beam {c['beam']}{precision(results)}.",
        "",
        f"Decoding weights chosen on valid (weights.json; {weights_summary(results['weights'])}). LM: tiny "
        f"Transformer, {c['lm_updates']} updates, on the training transcripts + {c['lm_extra_sentences']} grammar "
        f"sentences of another seed (never the test split; {overlap['in_train_transcripts']:.0f}% of test "
        f"utterances occur verbatim in the training transcripts, {overlap['in_lm_extra_text']:.0f}% in the extra "
        "text).",
    ]


def step_times(results: Dict[str, object]) -> str:
    """``Step times, wall (CPU) s: synth_clean 40 (72), ...`` of a run."""
    cpu = results.get("cpu_s", {})
    return "Step times, wall (CPU) s: " + ", ".join(
        f"{k} {v:.0f} ({cpu.get(k, 0):.0f})" for k, v in results["timings_s"].items()
    )


def results_markdown(results: Dict[str, object]) -> str:
    """``results.md`` of a demo run: what was run, the table, the step times."""
    title = "# Synthetic AMI-like demo: tiny_cpu AV-HuBERT seq2seq trained from scratch"
    lines = [title, "", *description(results), "", *demo_table(results), "", step_times(results)]
    if results.get("meetings"):
        lines += ["", "## Meetings (meetings/results.md)", "", *meeting_lines(results["meetings"])]
    return "\n".join(lines) + "\n"


def meeting_lines(record: Dict[str, object]) -> List[str]:
    """The meeting table and its targets (``scripts/demo_meetings.py``)."""
    try:
        from scripts import demo_meetings as meetings
    except ImportError:  # run as a script from this folder
        import demo_meetings as meetings
    return [*meetings.table(record["rows"]), "", *meetings.target_lines(record["targets"])]


def write_json(path: str, obj: object) -> None:
    """``obj`` as indented JSON, atomically."""
    from avhubert_ami.files import atomic_write

    with atomic_write(path) as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def write_report(out_dir: str, results: Dict[str, object]) -> str:
    """``OUT/results.json`` and ``OUT/results.md``; returns the markdown."""
    from avhubert_ami.files import atomic_write

    write_json(os.path.join(out_dir, "results.json"), results)
    text = results_markdown(results)
    with atomic_write(os.path.join(out_dir, "results.md")) as f:
        f.write(text)
    return text


def write_spread(out_dir: str, runs: Dict[int, List[dict]], provenance: Optional[Dict[str, object]] = None) -> str:
    """``OUT/spread.md`` and ``OUT/spread.json`` (with ``provenance``) over the seeds of ``runs``; returns the
    markdown."""
    from avhubert_ami.files import atomic_write

    entries = spread(runs)
    title = f"# Spread over seeds {', '.join(map(str, sorted(runs)))} (each row: mean, min, max)"
    text = "\n".join([title, ""] + spread_table(entries)) + "\n"
    with atomic_write(os.path.join(out_dir, "spread.md")) as f:
        f.write(text)
    record = {"kind": "demo_spread", "seeds": sorted(runs), "rows": entries, **(provenance or {})}
    write_json(os.path.join(out_dir, "spread.json"), record)
    return text


def chance_row(manifest_dir: str, normalizer: str) -> Dict[str, object]:
    """Row of always answering the most frequent training word (a no-information baseline) on the test split."""
    from avhubert_ami.data.manifest import load_split
    from avhubert_ami.scoring.wer import error_rate

    _, train = load_split(manifest_dir, "train")
    _, test = load_split(manifest_dir, "test")
    top = Counter(w for t in train for w in t.split()).most_common(1)[0][0]
    hyps, refs = [top] * len(test), list(test)
    return dict(
        condition="-",
        modalities="-",
        system=CHANCE_SYSTEM,
        training="-",
        ctc_weight=0.0,
        lm_weight=0.0,
        normalizer=normalizer,
        n_utterances=len(test),
        wer=error_rate(hyps, refs, normalizer=normalizer),
        cer=error_rate(hyps, refs, char_level=True, normalizer=normalizer),
    )


def test_overlap(manifest_dir: str, extra_text: str) -> Dict[str, float]:
    """Share (%) of test utterances whose exact text also occurs in the training transcripts and in the LM's
    extra text: the grammar is small, so short phrases recur everywhere, as they do in real meetings."""
    from avhubert_ami.data.manifest import load_split

    _, train = load_split(manifest_dir, "train")
    _, test = load_split(manifest_dir, "test")
    with open(extra_text, encoding="utf-8") as f:
        extra = {line.strip() for line in f}

    def share(pool: set) -> float:
        return 100.0 * sum(t in pool for t in test) / max(len(test), 1)

    return {"in_train_transcripts": share(set(train)), "in_lm_extra_text": share(extra)}


def validation_curve(log_path: str) -> List[Tuple[int, float]]:
    """``[(num_updates, valid_wer)]`` from fairseq's json log lines (``{"valid_wer": ..., "valid_num_updates":
    ...}``); empty when the log is missing or has no validation."""
    points = []
    if not os.path.exists(log_path):
        return points
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            if "valid_wer" not in line or "{" not in line:
                continue
            try:
                rec = json.loads(line[line.index("{") :])
            except ValueError:
                continue
            if "valid_wer" in rec and "valid_num_updates" in rec:
                points.append((int(float(rec["valid_num_updates"])), float(rec["valid_wer"])))
    return sorted(set(points))


def plot_curves(curves: Dict[str, List[Tuple[int, float]]], path: str) -> None:
    """Validation WER over updates, one line per named curve, as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xlabel("updates")
    ax.set_ylabel("valid WER (%)")
    ax.set_title("tiny_cpu on the synthetic AMI-like corpus")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def git_commit(repo: str) -> str:
    """``HEAD``'s hash of the checkout at ``repo`` (``+dirty`` when tracked files differ), or ``unknown``."""
    try:
        head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"], capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine() -> Dict[str, object]:
    """CPU model, cores, load average, torch and Python versions of this machine."""
    import torch

    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def provenance(command: str, repo: str) -> Dict[str, object]:
    """``command``, ``commit``, ``machine`` (with its load now) and ``date`` (UTC, ``YYYY-MM-DD``) of a run."""
    return {
        "command": command,
        "commit": git_commit(repo),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
