"""Meeting scores (avhubert_ami.meeting.scoring): cpWER, tcpWER and DER on hand examples whose values are worked out
in the comments, equal to meeteval's own command line on the files our writers produce (and DER to md-eval-22.pl
through meeteval-der where that Perl script is on PATH), empty sides handled."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from avhubert_ami.meeting.formats import MeetingSegment, write_meeting
from avhubert_ami.meeting.scoring import cpwer, der, tcpwer

pytest.importorskip("meeteval")

SID = "ES2002a"


def _seg(spk, start, end, words=""):
    return MeetingSegment(SID, spk, start, end, words)


# ---- cpWER / tcpWER ----------------------------------------------------------------------------------------
# Hypothesis speakers named the other way round: spk1 said A's words (one substituted), spk0 said B's.
SWAPPED_REF = [_seg("A", 0, 3, "hello there how are you"), _seg("B", 4, 5, "fine thanks")]
SWAPPED_HYP = [_seg("spk1", 0, 3, "hello there how is you"), _seg("spk0", 4, 5, "fine thanks")]


def test_cpwer_finds_the_speaker_permutation():
    # best assignment spk1->A (1 substitution of 5 words), spk0->B (0 of 2): 1 / 7; the identity by name
    # order (A-spk0, B-spk1) would cost 5 + 2 = 7 errors (the pairs share no word: 2 subs + 3 del, 2 subs)
    r = cpwer(SWAPPED_REF, SWAPPED_HYP)
    assert (r.errors, r.reference_words, r.substitutions, r.insertions, r.deletions) == (1, 7, 1, 0, 0)
    assert r.error_rate == pytest.approx(1 / 7)
    assert r.assignment == {"spk1": "A", "spk0": "B"}
    rows = [(s.reference_speaker, s.hypothesis_speaker, s.errors, s.reference_words) for s in r.per_speaker]
    assert rows == [("A", "spk1", 1, 5), ("B", "spk0", 0, 2)]
    assert r.metric == "cpWER" and r.collar is None and r.session_id == SID and r.note == ""


# "three" said at 30 s but hypothesised in the first segment (0-3 s): in order for cpWER, 27 s away for tcpWER
COLLAR_REF = [_seg("A", 0, 2, "one two"), _seg("A", 30, 31, "three")]
COLLAR_HYP = [_seg("x", 0, 3, "one two three")]


def test_a_word_outside_the_collar_counts_for_tcpwer_not_cpwer():
    assert cpwer(COLLAR_REF, COLLAR_HYP).errors == 0
    # tcpWER: "three" is hypothesised near 2.3 s (its share of the 0-3 s segment by characters), +-5 s reaches
    # 7.3 s, not the reference "three" at 30-31 s: one deletion and one insertion, 2 errors / 3 words
    r = tcpwer(COLLAR_REF, COLLAR_HYP)
    assert (r.errors, r.insertions, r.deletions, r.substitutions, r.reference_words) == (2, 1, 1, 0, 3)
    assert r.error_rate == pytest.approx(2 / 3) and r.collar == 5.0 and r.metric == "tcpWER"
    assert tcpwer(COLLAR_REF, COLLAR_HYP, collar=30).errors == 0  # a collar that reaches 30 s forgives it
    # a hypothesis speaker overlapping itself has no single word order: said in the note
    assert "overlap themselves for 1.00 s" in tcpwer(COLLAR_REF, COLLAR_HYP + [_seg("x", 2, 4, "four")]).note


def test_unmatched_speakers_count_all_their_words():
    ref = [_seg("A", 0, 1, "a b"), _seg("B", 2, 3, "c d")]
    hyp = [_seg("x", 0, 1, "a b"), _seg("y", 2, 3, "c d"), _seg("z", 4, 5, "e")]
    r = cpwer(ref, hyp)  # z matches no one: its 1 word is an insertion, 1 / 4
    assert (r.errors, r.insertions, r.falarm_speakers, r.missed_speakers) == (1, 1, 1, 0)
    assert r.assignment == {"x": "A", "y": "B", "z": None}
    assert [(s.reference_speaker, s.hypothesis_speaker, s.errors) for s in r.per_speaker][-1] == (None, "z", 1)
    r = cpwer(ref + [_seg("C", 6, 7, "f g h")], hyp[:2])  # C found by no one: 3 deletions of 7 words
    assert (r.errors, r.deletions, r.missed_speakers, r.reference_words) == (3, 3, 1, 7)
    assert r.per_speaker[-1].hypothesis_speaker is None and r.per_speaker[-1].error_rate == 1.0
    assert sum(s.errors for s in r.per_speaker) == r.errors


def test_the_normaliser_applies_to_both_sides_and_is_recorded():
    ref = [_seg("A", 0, 2, "um I think so")]
    hyp = [_seg("x", 0, 2, "I think, so!")]
    basic = cpwer(ref, hyp)  # punctuation and case gone; "um" kept: one deletion of 4 words
    assert (basic.normalizer, basic.errors, basic.reference_words) == ("basic", 1, 4)
    whisper = cpwer(ref, hyp, normalizer="whisper")  # Whisper's normaliser drops filled pauses
    assert (whisper.normalizer, whisper.errors, whisper.reference_words) == ("whisper", 0, 3)
    assert tcpwer(ref, hyp, normalizer="kaldi").to_dict()["normalizer"] == "kaldi"
    with pytest.raises(ValueError, match="unknown normalizer"):
        cpwer(ref, hyp, normalizer="nfkc")


def test_empty_sides_are_scored_not_crashed():
    r = cpwer(SWAPPED_REF, [])  # every reference word deleted
    assert (r.error_rate, r.deletions, r.hypothesis_words, r.assignment) == (1.0, 7, 0, {})
    for score in (cpwer, tcpwer):
        r = score([], SWAPPED_HYP)  # no reference words: the rate is undefined, the insertions still counted
        assert r.error_rate is None and r.insertions == 7 and "no words" in r.note
        r = score([], [])
        assert r.error_rate is None and r.errors == 0
    # segments whose words normalise away still name their speakers
    r = cpwer([_seg("A", 0, 1, "?")], [_seg("x", 0, 1, "hi")])
    assert r.error_rate is None and r.errors == 1


def test_references_of_another_meeting_are_refused():
    other = [MeetingSegment("ES2002b", "A", 0, 1, "hello")]
    with pytest.raises(ValueError, match="references of meeting ES2002b, not of ES2002a"):
        cpwer(other, SWAPPED_HYP)
    with pytest.raises(ValueError, match="several meetings"):
        der(SWAPPED_REF, SWAPPED_HYP + other)


# One meeting with everything at once: swapped names, a word outside the collar, an extra hypothesis speaker
MEETING_REF = SWAPPED_REF + [_seg("A", 40, 41, "three")]
MEETING_HYP = SWAPPED_HYP + [_seg("spk1", 6, 8, "three"), _seg("spk2", 50, 51, "extra words")]


@pytest.mark.parametrize("fmt", ["seglst", "stm"])
@pytest.mark.parametrize("metric", ["cpwer", "tcpwer"])
def test_equal_to_meeteval_command_line_on_our_files(tmp_path, fmt, metric):
    write_meeting(str(tmp_path / "ref"), SID, MEETING_REF, [fmt])
    write_meeting(str(tmp_path / "hyp"), SID, MEETING_HYP, [fmt])
    ext = ".seglst.json" if fmt == "seglst" else ".stm"
    out = tmp_path / "average.json"
    cmd = [sys.executable, "-m", "meeteval.wer", metric, "-r", str(tmp_path / "ref" / (SID + ext))]
    cmd += ["-h", str(tmp_path / "hyp" / (SID + ext)), "--average-out", str(out)]
    cmd += ["--per-reco-out", str(tmp_path / "per_reco.json")] + (["--collar", "5"] if metric == "tcpwer" else [])
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    cli = json.loads(out.read_text())

    ours = cpwer(MEETING_REF, MEETING_HYP) if metric == "cpwer" else tcpwer(MEETING_REF, MEETING_HYP, collar=5)
    fields = ("errors", "insertions", "deletions", "substitutions")
    assert [cli[k] for k in fields] == [getattr(ours, k) for k in fields] and cli["length"] == ours.reference_words
    # by hand: spk1 -> A, spk0 -> B, spk2 unmatched (2 insertions); "is" for "are" (1 substitution); cpWER
    # matches "three" in A's order, tcpWER finds it 34 s early (6-8 s against 40-41 s): 1 insertion + 1 deletion
    assert ours.errors == (3 if metric == "cpwer" else 5) and ours.reference_words == 8


# ---- DER ---------------------------------------------------------------------------------------------------
# A speaks 0-10 s, B 12-20 s; the hypothesis starts A late (x from 1 s) and lets y take over from 9 s to the end.
DER_REF = [_seg("A", 0, 4), _seg("A", 4, 10), _seg("B", 12, 20)]  # A's touching segments are one turn
DER_HYP = [_seg("x", 1, 9), _seg("y", 9, 20)]


def test_der_by_hand_without_collar():
    # mapping x->A, y->B. 0-1: A missed (1 s); 9-10: A heard as y (confusion 1 s); 10-12: y with no one
    # speaking (false alarm 2 s); reference speech 10 + 8 = 18 s: DER 4 / 18
    r = der(DER_REF, DER_HYP, collar=0)
    assert (r.scored_time, r.missed_time, r.false_alarm_time, r.confusion_time) == pytest.approx((18, 1, 2, 1))
    assert r.der == pytest.approx(4 / 18) and r.mapping == {"x": "A", "y": "B"} and r.uem == (0.0, 20.0)
    per_ref = {s.speaker: (s.matched, s.speech_time, s.error_time) for s in r.reference_speakers}
    assert per_ref == {"A": ("x", 10, pytest.approx(2)), "B": ("y", 8, 0)}  # A: missed 1 s + confused 1 s
    per_hyp = {s.speaker: (s.speech_time, s.error_time) for s in r.hypothesis_speakers}
    assert per_hyp == {"x": (8, 0), "y": (11, pytest.approx(3))}  # y: 1 s confusion + 2 s false alarm


def test_der_collar_is_md_evals_on_each_side():
    # 0.25 s each side of the reference boundaries 0, 10, 12, 20 is not scored: reference 9.5 + 7.5 = 17 s;
    # missed 0.25-1 (0.75), confusion 9-9.75 (0.75), false alarm 10.25-11.75 (1.5): DER 3 / 17
    r = der(DER_REF, DER_HYP)
    assert r.collar == 0.25
    assert (r.scored_time, r.missed_time, r.false_alarm_time, r.confusion_time) == pytest.approx((17, 0.75, 1.5, 0.75))
    assert r.der == pytest.approx(3 / 17)
    assert sum(s.error_time for s in r.reference_speakers) == pytest.approx(r.missed_time + r.confusion_time)
    assert sum(s.error_time for s in r.hypothesis_speakers) == pytest.approx(r.false_alarm_time + r.confusion_time)


def test_der_overlapped_speech_and_false_alarm_outside_the_reference():
    # A 0-10 and B 5-15 overlap 5-10; one hypothesis speaker over 0-15 s covers one of the two there (5 s missed)
    # and is the wrong speaker for 5 s outside the overlap, whichever it maps to: 10 / 20
    r = der([_seg("A", 0, 10), _seg("B", 5, 15)], [_seg("x", 0, 15)], collar=0)
    assert (r.missed_time, r.confusion_time, r.der) == pytest.approx((5, 5, 0.5))
    # the default scored span covers the hypothesis too: x before (2 s) and after (1 s) A's turn, z (1 s)
    r = der([_seg("A", 2, 5)], [_seg("x", 0, 6), _seg("z", 8, 9)], collar=0)
    assert (r.false_alarm_time, r.der) == pytest.approx((4, 4 / 3)) and r.uem == (0, 9)
    assert r.mapping == {"x": "A", "z": None}
    r = der([_seg("A", 2, 5)], [_seg("x", 0, 6), _seg("z", 8, 9)], collar=0, uem=(2, 5))  # only A's span
    assert (r.false_alarm_time, r.der) == (0, 0)


def test_der_empty_sides():
    r = der(DER_REF, [], collar=0)
    assert (r.der, r.missed_time, r.mapping) == (1.0, 18, {})
    r = der([], DER_HYP, collar=0)
    assert r.der is None and r.false_alarm_time == pytest.approx(19) and "no scored speech" in r.note
    assert der([], []).der is None


@pytest.mark.skipif(not shutil.which("md-eval-22.pl"), reason="md-eval-22.pl (NIST) not on PATH")
@pytest.mark.parametrize("collar", [0.0, 0.25])
def test_der_equal_to_md_eval_through_meeteval_der(tmp_path, collar):
    # meeteval-der runs md-eval-22.pl (found on PATH; meeteval would otherwise download it): the reference scorer
    ref = DER_REF + [_seg("C", 14, 16)]  # overlapping speech too
    hyp = DER_HYP + [_seg("w", 15, 17)]
    write_meeting(str(tmp_path / "ref"), SID, ref, ["rttm"])
    write_meeting(str(tmp_path / "hyp"), SID, hyp, ["rttm"])
    ours = der(ref, hyp, collar=collar)
    (tmp_path / "x.uem").write_text(f"{SID} 1 {ours.uem[0]:.3f} {ours.uem[1]:.3f}\n")
    out = tmp_path / "der.json"
    cmd = [sys.executable, "-m", "meeteval.der", "md_eval_22", "-r", str(tmp_path / "ref" / f"{SID}.rttm")]
    cmd += ["-h", str(tmp_path / "hyp" / f"{SID}.rttm"), "--collar", str(collar), "--uem", str(tmp_path / "x.uem")]
    cmd += ["--average-out", str(out), "--per-reco-out", str(tmp_path / "per_reco.json")]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    cli = json.loads(out.read_text())
    assert float(cli["error_rate"]) == pytest.approx(ours.der, abs=5e-5)  # md-eval prints 2 decimals of a percent
    got = [float(cli[k]) for k in ("scored_speaker_time", "missed_speaker_time", "falarm_speaker_time")]
    want = [ours.scored_time, ours.missed_time, ours.false_alarm_time]
    assert got + [float(cli["speaker_error_time"])] == pytest.approx(want + [ours.confusion_time], abs=1e-3)
