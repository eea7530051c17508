"""The demo's meetings (``run_demo.py --meetings N``): who said what, when, on synthetic meetings in AMI's layout.

The demo's trained model transcribes ``N`` synthetic meetings (``synth.meeting.generate_meetings``: four
participants never heard in training, 15-20 % overlapped speech, headset crosstalk 8-20 dB down, a reverberant room
channel, 96x96 mouth close-ups) under five conditions (:data:`CONDITIONS`) with the library's
:class:`~avhubert_ami.meeting.transcriber.MeetingTranscriber`, and scores each against the meeting's reference
(cpWER, tcpWER with a 5 s collar, DER with 0.25 s: ``meeting.scoring``). The search uses the joint CTC weight the
demo chose on its valid split (no LM); nothing is tuned on the meetings. Totals over meetings are sums of errors
over sums of reference words (WER) or of scored speaker time (DER), as meeteval and md-eval sum sessions.

Outputs: ``OUT/meetings/corpus/`` (the meetings), ``OUT/meetings/<condition>/<ID>.*`` (every transcript format,
``ID.json`` with scores and per-stage real-time factors), ``OUT/meetings/results.json`` and ``results.md``; the
table and targets also go into the demo's ``results.json`` (key ``meetings``), from which
``scripts/render_results.py`` renders them. A re-run reuses every ``ID.json`` that holds scores.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

TCP_COLLAR, DER_COLLAR = 5.0, 0.25


@dataclass(frozen=True)
class Condition:
    """One row of the meeting table: which audio, who-speaks-when from what, recognition from what."""

    slug: str
    audio: str  # headset | room
    activity: str  # av | audio | oracle (the reference turns, decoded one by one)
    recognition: Tuple[str, ...]


CONDITIONS = (
    Condition("headset_av", "headset", "av", ("audio", "video")),
    Condition("headset_audio_activity", "headset", "audio", ("audio", "video")),
    Condition("room_av", "room", "av", ("audio", "video")),
    Condition("room_audio_recognition", "room", "av", ("audio",)),
    Condition("oracle_segments", "headset", "oracle", ("audio", "video")),
)

ACTIVITY_LABEL = {"av": "audio+video", "audio": "audio only", "oracle": "-"}

#: the targets of the meeting issue: (description, condition, metric, bound, relative-to condition or None)
TARGETS = (
    ("headset, AV activity: cpWER <= 1.15x the oracle-segment WER", "headset_av", "cpwer", 1.15, "oracle_segments"),
    (
        "headset, AV activity: cpWER <= 0.8x the audio-only-activity cpWER",
        "headset_av",
        "cpwer",
        0.8,
        "headset_audio_activity",
    ),
    ("room: AV recognition cpWER <= 0.7x audio-only recognition", "room_av", "cpwer", 0.7, "room_audio_recognition"),
    ("headset, AV activity: DER <= 5 %", "headset_av", "der", 5.0, None),
    ("room, AV activity: DER <= 10 %", "room_av", "der", 10.0, None),
)


def synthesize(folder: str, seed: int, n: int, minutes: float, words: Tuple[int, int], workers: int) -> List[str]:
    """The ``n`` meetings of ``minutes`` in ``folder`` (made again when ``folder/synth.json`` records others)."""
    import shutil

    from avhubert_ami.files import atomic_write
    from avhubert_ami.synth.meeting import MeetingConfig, generate_meetings

    cfg = MeetingConfig(
        seed=seed,
        n_meetings=n,
        seconds=minutes * 60,
        closeup="lip",
        min_words=words[0],
        max_words=words[1],
        workers=workers,
    )
    want = {"seed": seed, "n_meetings": n, "seconds": cfg.seconds, "words": list(words), "closeup": "lip"}
    marker = os.path.join(folder, "synth.json")
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            if json.load(f) == want:
                return list(cfg.ids())
        shutil.rmtree(folder)
    ids = generate_meetings(folder, cfg, progress=True)
    with atomic_write(marker) as f:
        json.dump(want, f)
    return ids


def _load_scored(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    return record if record.get("scores") else None


def transcribe_all(
    checkpoint: str,
    data_dir: str,
    corpus: str,
    ids: Sequence[str],
    out: str,
    search: Dict[str, object],
    normalizer: str,
    say: Callable[[str], None],
) -> Dict[str, Dict[str, dict]]:
    """Every condition x meeting: ``{condition slug: {meeting id: ID.json record}}``; the model is loaded once."""
    from avhubert_ami.decoding.recognizer import Recognizer
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.meeting.activity import ActivityConfig
    from avhubert_ami.meeting.formats import read_segments, write_meeting
    from avhubert_ami.meeting.scoring import score_meeting
    from avhubert_ami.meeting.sources import ami_meeting
    from avhubert_ami.meeting.transcriber import MeetingSettings, MeetingTranscriber

    recognizer = None
    done: Dict[str, Dict[str, dict]] = {}
    for cond in CONDITIONS:
        folder = os.path.join(out, cond.slug)
        for meeting_id in ids:
            record = _load_scored(os.path.join(folder, f"{meeting_id}.json"))
            if record is None:
                if recognizer is None:
                    recognizer = Recognizer.from_checkpoint(
                        checkpoint, SearchSettings(**search), data_dir=data_dir, device="cpu"
                    )
                reference = read_segments(os.path.join(corpus, f"{meeting_id}.seglst.json"))
                settings = MeetingSettings(audio_source=cond.audio, modalities=cond.recognition)
                activity = ActivityConfig(mode="av" if cond.activity == "oracle" else cond.activity)
                transcriber = MeetingTranscriber(recognizer, settings, activity)
                media = ami_meeting(corpus, meeting_id, lip_video=True)
                result = transcriber.transcribe(media, segments=reference if cond.activity == "oracle" else None)
                result.scores = score_meeting(reference, result.segments, normalizer, TCP_COLLAR, DER_COLLAR)
                write_meeting(folder, meeting_id, result.segments, meta=result.meta())
                record = _load_scored(os.path.join(folder, f"{meeting_id}.json"))
            s = record["scores"]
            say(
                f"meeting {meeting_id} {cond.slug}: cpWER {100 * s['cpwer']['error_rate']:.2f} tcpWER "
                f"{100 * s['tcpwer']['error_rate']:.2f} DER {100 * (s['der']['der'] or 0):.2f}  (RTF "
                f"{record['rtf']['total']:.3f})"
            )
            done.setdefault(cond.slug, {})[meeting_id] = record
    return done


def _total(records: Sequence[dict], metric: str) -> Dict[str, float]:
    """Sums over meetings: WER from errors / reference words, DER from error time / scored time (percent)."""
    if metric == "der":
        parts = [r["scores"]["der"] for r in records]
        scored = sum(p["scored_time"] for p in parts)
        err = sum(p["missed_time"] + p["false_alarm_time"] + p["confusion_time"] for p in parts)
        return {"der": 100 * err / scored if scored else 0.0, "scored_time": scored}
    parts = [r["scores"][metric] for r in records]
    words = sum(p["reference_words"] for p in parts)
    errors = sum(p["errors"] for p in parts)
    return {metric: 100 * errors / words if words else 0.0, "errors": errors, "reference_words": words}


def summarize(done: Dict[str, Dict[str, dict]]) -> Tuple[List[dict], List[dict]]:
    """The table's rows (one per condition: totals over meetings, per-meeting figures, stage RTFs) and the targets
    checked on them."""
    rows = []
    for cond in CONDITIONS:
        records = [done[cond.slug][m] for m in sorted(done[cond.slug])]
        row = dict(
            condition=cond.slug,
            audio="oracle segments" if cond.activity == "oracle" else cond.audio,
            activity=ACTIVITY_LABEL[cond.activity],
            recognition="audio+video" if len(cond.recognition) == 2 else "audio only",
            meetings=[r["session_id"] for r in records],
            duration_s=sum(r["duration_s"] for r in records),
        )
        for metric in ("cpwer", "tcpwer", "der"):
            row.update(_total(records, metric))
        row["per_meeting"] = {
            r["session_id"]: {
                "cpwer": 100 * r["scores"]["cpwer"]["error_rate"],
                "tcpwer": 100 * r["scores"]["tcpwer"]["error_rate"],
                "der": 100 * (r["scores"]["der"]["der"] or 0.0),
            }
            for r in records
        }
        stages = records[0]["rtf"].keys()
        row["rtf"] = {k: sum(r["rtf"][k] * r["duration_s"] for r in records) / row["duration_s"] for k in stages}
        rows.append(row)
    by = {r["condition"]: r for r in rows}
    targets = []
    for text, cond, metric, bound, relative in TARGETS:
        value = by[cond][metric]
        limit = bound * by[relative][metric] if relative else bound
        targets.append(dict(target=text, value=value, limit=limit, met=value <= limit + 1e-9))
    return rows, targets


def table(rows: Sequence[dict]) -> List[str]:
    """The meeting table: one line per condition, totals over the meetings."""
    lines = [
        "| audio | activity | recognition | cpWER % | tcpWER % | DER % | RTF (activity / ROI / decoding) |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        rtf = r["rtf"]
        lines.append(
            f"| {r['audio']} | {r['activity']} | {r['recognition']} | {r['cpwer']:.2f} | {r['tcpwer']:.2f} | "
            f"{r['der']:.2f} | {rtf['activity']:.3f} / {rtf['roi']:.3f} / {rtf['decoding']:.3f} |"
        )
    return lines


def target_lines(targets: Sequence[dict]) -> List[str]:
    """One bullet per target: measured against the limit, met or missed."""
    return [
        f"* {t['target']}: {t['value']:.2f} against {t['limit']:.2f}: **{'met' if t['met'] else 'missed'}**"
        for t in targets
    ]


def markdown(results: Dict[str, object]) -> str:
    """``OUT/meetings/results.md``."""
    c = results["config"]
    lines = [
        f"# Synthetic meetings: {len(results['meetings'])} x {c['meeting_minutes']:g} min, 4 participants",
        "",
        *describe(results),
        "",
        *table(results["rows"]),
        "",
        *target_lines(results["targets"]),
    ]
    return "\n".join(lines) + "\n"


def describe(results: Dict[str, object]) -> List[str]:
    """What the meeting table measured."""
    c = results["config"]
    return [
        f"Meetings {', '.join(results['meetings'])} (seed {c['seed']}, {c['meeting_minutes']:g} min each, lip "
        f"close-ups), transcribed by the demo's model (ctc_weight {results['search']['ctc_weight']:g} chosen on "
        f"valid, beam {results['search']['beam']}, no LM); cpWER, tcpWER (collar {TCP_COLLAR:g} s) and DER (collar "
        f"{DER_COLLAR:g} s) summed over the meetings, {results['normalizer']} normaliser; real-time factors are "
        "processing seconds per meeting second on this machine.",
    ]


def write(out: str, results: Dict[str, object]) -> str:
    """``OUT/meetings/results.json`` and ``results.md``; returns the markdown."""
    from avhubert_ami.files import atomic_write

    with atomic_write(os.path.join(out, "results.json")) as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    text = markdown(results)
    with atomic_write(os.path.join(out, "results.md")) as f:
        f.write(text)
    return text
