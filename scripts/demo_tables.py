"""Tables of the demo (``scripts/run_demo.py``): one run's results table and the spread over seeds.

A result row is a dict with ``condition``, ``modalities``, ``system`` (the row's model/decoding), ``training``,
``ctc_weight``, ``lm_weight``, ``normalizer``, ``wer``, ``cer`` and ``n_utterances``.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

RowKey = Tuple[str, str, str]

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
    first = next(iter(runs.values()))
    out = []
    for key in (row_key(r) for r in first):
        missing = [s for s, rows in keyed.items() if key not in rows]
        if missing:
            raise ValueError(f"row {key} is missing from seed(s) {missing}")
        entry: Dict[str, object] = {
            "condition": key[0],
            "modalities": key[1],
            "system": key[2],
            "seeds": sorted(keyed),
            "normalizer": keyed[next(iter(keyed))][key]["normalizer"],
        }
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
