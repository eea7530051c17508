"""A synthetic meeting's transcripts as AMI ships them (NXT XML of ``ami_public_manual_1.6.2``) and as scorers
read them (SegLST, RTTM), plus a JSON record of everything else drawn for it.

NXT, as in AMI and as lhotse's AMI parser reads it: ``corpusResources/meetings.xml`` maps each meeting's agent
letters to global names, headset channels and close-up cameras; ``words/<M>.<A>.words.xml`` holds one ``<w>`` per
word (times in seconds, the sentence capitalised, punctuation as zero-length ``punc="true"`` words at the previous
word's end); ``segments/<M>.<A>.segments.xml`` one ``<segment>`` per utterance, its transcriber times a little
wider than the words, pointing at them with a ``nite:child`` range. A participant who never speaks still gets
(empty) words and segments files, as every AMI agent has them.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Sequence

from avhubert_ami.files import atomic_write
from avhubert_ami.synth.audio import FPS
from avhubert_ami.synth.conversation import MeetingPlan, Utterance, overlap_share

ANNOTATIONS = "ami_public_manual_1.6.2"
_NXT = 'xmlns:nite="http://nite.sourceforge.net/"'
_XML_HEAD = '<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>'
_COMMA_AFTER = {"okay", "yeah", "well", "right"}  # openers the transcribers set off with a comma


def _t(frame: int) -> str:
    """A frame's time in seconds, as AMI writes times (frames are 40 ms: two decimals are exact)."""
    return f"{frame / FPS:.2f}"


def written_tokens(words: Sequence[str]) -> List[str]:
    """The words as an AMI transcriber writes them: first one capitalised, a comma after an opener, a full stop."""
    out = [words[0][:1].upper() + words[0][1:]] + list(words[1:])
    if len(words) > 1 and words[0] in _COMMA_AFTER:
        out.insert(1, ",")
    return out + ["."]


def meetings_xml(plans: Sequence[MeetingPlan]) -> str:
    """``corpusResources/meetings.xml`` of ``plans``."""
    lines = [_XML_HEAD, f'<nite:root nite:id="meetings" {_NXT}>']
    for plan in plans:
        m = plan.meeting_id
        lines.append(f'  <meeting nite:id="{m}" observation="{m}" type="scenario" duration="{plan.seconds:.2f}">')
        for p in plan.participants:
            lines.append(
                f'    <speaker nite:id="{m}.{p.agent}" nxt_agent="{p.agent}" global_name="{p.name}" '
                f'role="{p.role}" channel="{p.channel}" camera="Closeup{p.camera}"/>'
            )
        lines.append("  </meeting>")
    return "\n".join(lines + ["</nite:root>", ""])


def _segment_bounds(utts: Sequence[Utterance]) -> List[tuple]:
    """Transcriber times of one participant's utterances (sorted): up to 0.2 s wider than the words, never
    reaching the participant's neighbouring utterance (lhotse assigns words to segments by time)."""
    out = []
    for i, u in enumerate(utts):
        before = u.speech_start - utts[i - 1].speech_end if i else 10**9
        after = utts[i + 1].speech_start - u.speech_end if i + 1 < len(utts) else 10**9
        out.append(
            (
                u.speech_start - max(0, min(5, (before - 1) // 2, u.speech_start)),
                u.speech_end + max(0, min(5, (after - 1) // 2)),
            )
        )
    return out


def agent_xml(plan: MeetingPlan, participant: int, segment_number: Dict[Utterance, int]) -> tuple:
    """``(words.xml, segments.xml)`` text of one participant; ``segment_number[u]``: each utterance's
    meeting-wide segment number."""
    m, a = plan.meeting_id, plan.participants[participant].agent
    utts = [u for u in plan.utterances if u.participant == participant]
    words = [_XML_HEAD, f'<nite:root nite:id="{m}.{a}.words" {_NXT}>']
    segs = [_XML_HEAD, f'<nite:root nite:id="{m}.{a}.segs" {_NXT}>']
    k = 0
    for u, (seg_start, seg_end) in zip(utts, _segment_bounds(utts)):
        first = k
        spans = iter(u.spans)
        last_end = u.speech_start
        for tok in written_tokens(u.words):
            if tok in ".,":
                attrs, ws, we = ' punc="true"', last_end, last_end
            else:
                ws, we = next(spans)
                attrs, last_end = "", we
            words.append(f'  <w nite:id="{m}.{a}.words{k}" starttime="{_t(ws)}" endtime="{_t(we)}"{attrs}>{tok}</w>')
            k += 1
        segs.append(
            f'  <segment nite:id="{m}.sync.{segment_number[u]}" transcriber_start="{_t(seg_start)}" '
            f'transcriber_end="{_t(seg_end)}">\n'
            f'    <nite:child href="{m}.{a}.words.xml#id({m}.{a}.words{first})..id({m}.{a}.words{k - 1})"/>\n'
            "  </segment>"
        )
    return "\n".join(words + ["</nite:root>", ""]), "\n".join(segs + ["</nite:root>", ""])


def seglst(plan: MeetingPlan) -> List[dict]:
    """The reference SegLST: one entry per utterance, speakers by global name, sorted by start."""
    return [
        {
            "session_id": plan.meeting_id,
            "speaker": plan.participants[u.participant].name,
            "start_time": round(u.speech_start / FPS, 2),
            "end_time": round(u.speech_end / FPS, 2),
            "words": " ".join(u.words),
        }
        for u in sorted(plan.utterances, key=lambda u: (u.speech_start, u.participant))
    ]


def rttm(plan: MeetingPlan) -> str:
    """The reference RTTM: each utterance's speech as a ``SPEAKER`` turn."""
    lines = []
    for seg in seglst(plan):
        dur = seg["end_time"] - seg["start_time"]
        lines.append(
            f"SPEAKER {plan.meeting_id} 1 {seg['start_time']:.3f} {dur:.3f} <NA> <NA> {seg['speaker']} <NA> <NA>\n"
        )
    return "".join(lines)


def truth(plan: MeetingPlan, closeup: str) -> dict:
    """What was drawn for the meeting beyond the transcripts, for analyses and tests."""
    names = [p.name for p in plan.participants]
    return {
        "meeting_id": plan.meeting_id,
        "seconds": plan.seconds,
        "closeup": closeup,
        "overlap_share": overlap_share(plan),
        "participants": [
            {
                "agent": p.agent,
                "name": p.name,
                "role": p.role,
                "channel": p.channel,
                "camera": p.camera,
                "f0": p.speaker.voice.f0,
                "formant_scale": p.speaker.voice.formant_scale,
                "rate": p.speaker.rate,
            }
            for p in plan.participants
        ],
        # crosstalk_db[headset wearer][talker]: dB below the talker's level in their own headset
        "crosstalk_db": {names[k]: dict(zip(names, row)) for k, row in enumerate(plan.crosstalk_db)},
        "crosstalk_delay_samples": {names[k]: dict(zip(names, row)) for k, row in enumerate(plan.crosstalk_delay)},
        "headset_noise_db": dict(zip(names, plan.headset_noise_db)),
        "room": {
            "dims_m": plan.room.dims,
            "rt60_s": plan.room.rt60,
            "seats_m": dict(zip(names, plan.room.seats)),
            "mic_m": plan.room.mic,
            "noise_db": plan.room.noise_db,
        },
        "utterances": [
            {
                "speaker": names[u.participant],
                "start_time": u.speech_start / FPS,
                "end_time": u.speech_end / FPS,
                "words": " ".join(u.words),
                "backchannel": u.backchannel,
            }
            for u in plan.utterances
        ],
        "nonspeech_motion": [
            {
                "speaker": names[mo.participant],
                "kind": mo.kind,
                "start_time": mo.start / FPS,
                "end_time": (mo.start + mo.n_frames) / FPS,
            }
            for mo in plan.motions
        ],
    }


def _write(path: str, text: str) -> None:
    with atomic_write(path, "w", encoding="ascii") as f:
        f.write(text)


def write_annotations(out_dir: str, plans: Sequence[MeetingPlan], closeup: str) -> None:
    """The NXT tree under ``out_dir/ami_public_manual_1.6.2`` and each meeting's ``.seglst.json``, ``.rttm`` and
    ``.synth.json`` in ``out_dir``."""
    ann = os.path.join(out_dir, ANNOTATIONS)
    _write(os.path.join(ann, "corpusResources", "meetings.xml"), meetings_xml(plans))
    for plan in plans:
        m = plan.meeting_id
        order = sorted(plan.utterances, key=lambda u: (u.speech_start, u.participant))
        number = {u: i for i, u in enumerate(order)}
        for i, p in enumerate(plan.participants):
            words, segs = agent_xml(plan, i, number)
            _write(os.path.join(ann, "words", f"{m}.{p.agent}.words.xml"), words)
            _write(os.path.join(ann, "segments", f"{m}.{p.agent}.segments.xml"), segs)
        _write(os.path.join(out_dir, f"{m}.seglst.json"), json.dumps(seglst(plan), indent=1) + "\n")
        _write(os.path.join(out_dir, f"{m}.rttm"), rttm(plan))
        _write(os.path.join(out_dir, f"{m}.synth.json"), json.dumps(truth(plan, closeup), indent=1) + "\n")
