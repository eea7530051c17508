"""Synthetic meetings written exactly as AMI ships them: :func:`generate_meetings`.

``avhubert-synth-ami --meetings N --output_dir OUT [--meeting_minutes M] [--closeup lip|face]`` writes::

    OUT/amicorpus/<MEETING>/audio/<MEETING>.Headset-<channel>.wav   each participant's headset (16 kHz, 16 bit)
    OUT/amicorpus/<MEETING>/audio/<MEETING>.Array1-01.wav          the room microphone (reverberant, noisy)
    OUT/amicorpus/<MEETING>/audio/<MEETING>.Mix-Headset.wav        the sum of the headsets
    OUT/amicorpus/<MEETING>/video/<MEETING>.Closeup<camera>.avi     each participant's close-up, 25 fps
    OUT/ami_public_manual_1.6.2/corpusResources/meetings.xml       agents, global names, channel=, camera=
    OUT/ami_public_manual_1.6.2/{words,segments}/<MEETING>.<AGENT>.{words,segments}.xml   NXT transcripts
    OUT/<MEETING>.seglst.json   reference SegLST: [{session_id, speaker, start_time, end_time, words}]
    OUT/<MEETING>.rttm          reference speaker activity (one line per utterance)
    OUT/<MEETING>.synth.json    what else was drawn: seats, crosstalk levels, room, non-speech motion, overlap

so the raw-AMI recipe (``avhubert-ami-corpus --ami_dir OUT``) prepares them as real AMI and the
meeting transcriber reads the same folder. Meeting ids are real AMI ids of the full-corpus-ASR partition's eval
(``split="test"``: :data:`TEST_MEETINGS`) or dev (:data:`DEV_MEETINGS`) list, the lists the recipe accepts; a
series (ES2004a..d) shares its participants, as in AMI.

Each meeting has 4 participants (speakers drawn apart from the utterance corpus's, see
:func:`avhubert_ami.synth.conversation.series_speakers`) talking in turns of meeting-grammar phrases with pauses,
overlapping speaker changes and backchannels (``overlap``: the share of speech time with two or more talkers,
met to the frame); speech and lips are rendered from one phone timeline (:mod:`avhubert_ami.synth.audio`,
:mod:`avhubert_ami.synth.video`). Headsets carry the other participants 8-20 dB lower (crosstalk) plus noise;
the room channel passes every voice through the room's impulse responses (:mod:`avhubert_ami.synth.room`).
Close-ups (:mod:`avhubert_ami.synth.closeup`) move the mouth with speech and, in ``nonspeech_motion`` of the
silent time, with a smile, a chew or a nod. Files are written as streams, chunk by chunk; the same seed gives
byte-identical files.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from avhubert_ami.synth.conversation import MAX_PARTICIPANTS, MeetingPlan, plan_meeting, series_of
from avhubert_ami.synth.speakers import Speaker

logger = logging.getLogger(__name__)

CLOSEUP_MODES = ("lip", "face")
#: AMI's full-corpus-ASR eval meetings (the recipe's ``test`` split), scenario series first
TEST_MEETINGS = tuple(f"{s}{x}" for s in ("ES2004", "IS1009", "TS3003", "EN2002") for x in "abcd")
#: AMI's full-corpus-ASR dev meetings (the recipe's ``valid`` split)
DEV_MEETINGS = tuple(f"{s}{x}" for s in ("ES2011", "IS1008", "TS3004") for x in "abcd") + tuple(
    f"IB40{k:02d}" for k in (1, 2, 3, 4, 10, 11)
)
MEETING_SPLITS = {"test": TEST_MEETINGS, "dev": DEV_MEETINGS}
#: every series, in a fixed order: a series' index numbers its participants' global names
SERIES = tuple(dict.fromkeys(series_of(m) for m in TEST_MEETINGS + DEV_MEETINGS))


@dataclass
class MeetingConfig:
    """Every knob of the meeting generator (the CLI's meeting flags map onto these fields)."""

    seed: int = 0
    n_meetings: int = 1
    seconds: float = 180.0  # each meeting's length
    split: str = "test"  # AMI partition list the meeting ids come from: test (eval) | dev
    meeting_ids: Tuple[str, ...] = ()  # explicit ids (of TEST_MEETINGS / DEV_MEETINGS) instead of split's first
    n_participants: int = 4
    closeup: str = "lip"  # lip: 96x96 gray mouth clips (FFV1); face: mouth on a face photo, 352x288 (MPEG-4)
    overlap: float = 0.175  # share of speech time with two or more talkers
    backchannels: float = 0.35  # chance that a listener backchannels inside an utterance of >= 2 s
    nonspeech_motion: float = 0.1  # share of each participant's silent time with a smile, chew or nod
    talkativeness: Tuple[float, ...] = ()  # relative floor-taking per participant (empty: drawn); 0: never speaks
    crosstalk_db: Tuple[float, float] = (8.0, 20.0)  # range of the other voices' attenuation in a headset
    min_words: int = 2
    max_words: int = 10
    workers: int = 2

    def ids(self) -> Tuple[str, ...]:
        """The meeting ids to generate."""
        return tuple(self.meeting_ids) or MEETING_SPLITS[self.split][: self.n_meetings]

    def validate(self) -> None:
        """Raise ValueError for inconsistent settings."""
        if self.split not in MEETING_SPLITS:
            raise ValueError(f"meeting split must be one of {', '.join(MEETING_SPLITS)}, got {self.split!r}")
        if not self.meeting_ids and not 1 <= self.n_meetings <= len(MEETING_SPLITS[self.split]):
            raise ValueError(
                f"--meetings {self.n_meetings}: the AMI {self.split} list has {len(MEETING_SPLITS[self.split])} "
                "meeting ids (use --meeting_split dev for more)"
            )
        unknown = [m for m in self.meeting_ids if m not in TEST_MEETINGS + DEV_MEETINGS]
        if unknown:
            raise ValueError(
                f"meeting ids {', '.join(unknown)} are not AMI full-corpus-ASR eval/dev meetings "
                "(the recipe would ignore them)"
            )
        if len(set(self.ids())) != len(self.ids()):
            raise ValueError("meeting ids repeat")
        if not 1 <= self.n_participants <= MAX_PARTICIPANTS:
            raise ValueError(
                f"--participants: 1..{MAX_PARTICIPANTS} (AMI's close-up cameras), got {self.n_participants}"
            )
        if self.closeup not in CLOSEUP_MODES:
            raise ValueError(f"--closeup must be one of {', '.join(CLOSEUP_MODES)}, got {self.closeup!r}")
        if not self.seconds >= 5:
            raise ValueError(f"a meeting must last at least 5 s, got {self.seconds}")
        if not 0 <= self.overlap < 1 or not 0 <= self.backchannels <= 1 or not 0 <= self.nonspeech_motion <= 0.5:
            raise ValueError("need 0 <= overlap < 1, 0 <= backchannels <= 1 and 0 <= nonspeech_motion <= 0.5")
        if self.talkativeness and (
            len(self.talkativeness) != self.n_participants
            or min(self.talkativeness) < 0
            or max(self.talkativeness) <= 0
        ):
            raise ValueError(
                f"--talkativeness: one weight >= 0 per participant ({self.n_participants}), at least one above 0"
            )
        lo, hi = self.crosstalk_db
        if not 0 <= lo <= hi:
            raise ValueError(f"crosstalk_db: need 0 <= low <= high, got {self.crosstalk_db}")
        if not 1 <= self.min_words <= self.max_words or self.workers < 1:
            raise ValueError("need 1 <= min_words <= max_words and --num_workers >= 1")


def default_avoid(seed: int) -> List[Speaker]:
    """The utterance corpus's training speakers for ``seed`` at its default size (meeting voices stay clear)."""
    from avhubert_ami.synth.ami import SynthConfig, corpus_speakers, split_speakers

    corpus = SynthConfig(seed=seed)
    return split_speakers(corpus, corpus_speakers(corpus))["train"]


def plans(cfg: MeetingConfig, avoid: Optional[Sequence[Speaker]] = None) -> List[MeetingPlan]:
    """The plan of every meeting of ``cfg`` (cheap: no audio or video is rendered)."""
    cfg.validate()
    avoid = default_avoid(cfg.seed) if avoid is None else avoid
    return [plan_meeting(cfg, m, SERIES.index(series_of(m)), avoid) for m in cfg.ids()]


def _render(job: Tuple[MeetingPlan, str, int, str]) -> str:
    """One file set of a meeting: ``("audio", -1)`` its wavs, ``("video", i)`` participant i's close-up."""
    from avhubert_ami.synth.closeup import closeup_path, render_closeup
    from avhubert_ami.synth.room import render_audio

    plan, kind, participant, root = job
    mdir = os.path.join(root, plan.meeting_id)
    if kind == "audio":
        render_audio(plan, os.path.join(mdir, "audio"))
    else:
        mode = kind.split(":", 1)[1]
        render_closeup(plan, participant, closeup_path(os.path.join(mdir, "video"), plan, participant), mode)
    return f"{plan.meeting_id} {kind} {participant}"


def generate_meetings(
    out_dir: str, config: MeetingConfig, avoid: Optional[Sequence[Speaker]] = None, progress: bool = False
) -> List[str]:
    """Write the meetings of ``config`` into ``out_dir`` in AMI's layout (see the module doc); returns their ids.

    ``avoid``: speakers the participants' voices must differ from (default: the utterance corpus's training
    speakers for the same seed, :func:`default_avoid`). Annotations are written first, then each meeting's audio
    and every close-up, as separate jobs over ``config.workers`` processes. ``meetings.xml`` lists this call's
    meetings only: give each run its own ``out_dir``."""
    from tqdm import tqdm

    from avhubert_ami.synth.ami_files import write_annotations

    meeting_plans = plans(config, avoid)
    os.makedirs(out_dir, exist_ok=True)
    write_annotations(out_dir, meeting_plans, config.closeup)
    root = os.path.join(out_dir, "amicorpus")
    jobs = []
    for plan in meeting_plans:
        jobs.append((plan, "audio", -1, root))
        jobs += [(plan, f"video:{config.closeup}", i, root) for i in range(len(plan.participants))]
    bar = tqdm(total=len(jobs), desc="synth meetings", unit="file set", disable=not progress)
    if config.workers > 1 and len(jobs) > 1:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(min(config.workers, len(jobs))) as pool:
            for _ in pool.imap_unordered(_render, jobs):
                bar.update()
    else:
        for job in jobs:
            _render(job)
            bar.update()
    bar.close()
    return [plan.meeting_id for plan in meeting_plans]
