"""The demo's meeting table (``scripts/demo_meetings.py``): totals summed over meetings as meeteval and md-eval sum
sessions, and each target checked against the right row."""

import pytest

from scripts import demo_meetings as dm


def _record(meeting, errors, words, der_err, scored, rtf=0.1):
    wer = {"error_rate": errors / words, "errors": errors, "reference_words": words}
    der = {"der": der_err / scored, "scored_time": scored, "missed_time": der_err, "false_alarm_time": 0.0}
    der["confusion_time"] = 0.0
    rtf = {"audio": 0.0, "roi": rtf, "activity": rtf, "decoding": rtf, "total": 3 * rtf}
    return {"session_id": meeting, "duration_s": 100.0, "scores": {"cpwer": wer, "tcpwer": wer, "der": der}, "rtf": rtf}


def _done(**errors):
    """Two meetings per condition: 10 errors / 100 words in the first, ``errors[slug]`` / 300 in the second."""
    return {
        c.slug: {"M1": _record("M1", 10, 100, 1.0, 50.0), "M2": _record("M2", errors.get(c.slug, 30), 300, 3.0, 50.0)}
        for c in dm.CONDITIONS
    }


def test_totals_are_sums_over_meetings_not_means_of_rates():
    rows, _ = dm.summarize(_done(headset_av=90))
    row = next(r for r in rows if r["condition"] == "headset_av")
    assert row["cpwer"] == pytest.approx(100 * (10 + 90) / 400)  # a mean of rates would give 20.0
    assert row["der"] == pytest.approx(100 * 4.0 / 100.0)
    assert row["per_meeting"]["M2"]["cpwer"] == pytest.approx(30.0)
    assert row["rtf"]["decoding"] == pytest.approx(0.1)


def test_targets_compare_against_their_own_rows():
    # room: AV 40 errors / 300 against audio-only 100 / 300 -> 50/400 vs 110/400: met (<= 0.7x)
    rows, targets = dm.summarize(_done(room_av=40, room_audio_recognition=100, headset_audio_activity=30))
    by = {t["target"]: t for t in targets}
    room = by["room: AV recognition cpWER <= 0.7x audio-only recognition"]
    assert room["value"] == pytest.approx(12.5) and room["limit"] == pytest.approx(0.7 * 27.5) and room["met"]
    crosstalk = by["headset, AV activity: cpWER <= 0.8x the audio-only-activity cpWER"]
    assert not crosstalk["met"]  # equal cpWER is not 0.8x
    assert by["headset, AV activity: DER <= 5 %"]["met"] and by["headset, AV activity: DER <= 5 %"]["limit"] == 5.0
    assert "| oracle segments | - | audio+video | 10.00 |" in "\n".join(dm.table(rows))
