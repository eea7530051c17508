"""Who says what, when, in a synthetic meeting: participants, turn-taking with overlap and backchannels,
non-speech mouth motion, and the room and headset settings. Planning draws no audio or video (it is cheap);
:mod:`avhubert_ami.synth.room` and :mod:`avhubert_ami.synth.closeup` render a :class:`MeetingPlan`.

Turn-taking: main utterances (meeting-grammar phrases) follow one another; after each one the same participant
goes on (a short pause) or another takes the floor, after a pause or by starting before the current speaker
stops. Listeners say short backchannels ("yeah", "mm-hmm", "okay", "right") inside a speaker's utterance. The
share of speech time with two or more talkers is set exactly (to the frame) rather than left to chance: with
only pairwise overlap, ``overlap / speech = r`` holds when the overlapped frames total ``r / (1 + r)`` of the
summed utterance lengths, so that budget is spread over randomly chosen speaker changes (each capped at a
natural length) after the backchannels took their share.

Every draw comes from a random stream keyed by the seed and the meeting id (participants: by the seed and the
meeting series, so ES2004a..d share their four people, as in AMI).
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import numpy as np

from avhubert_ami.synth.audio import FPS
from avhubert_ami.synth.grammar import sample_text
from avhubert_ami.synth.speakers import Speaker, sample_speaker, utterance_timeline

if TYPE_CHECKING:
    from avhubert_ami.synth.meeting import MeetingConfig

#: AMI's scenario roles (project manager, marketing, user interface, industrial designer), one per seat
ROLES = ("PM", "ME", "UI", "ID")
AGENTS = "ABCD"
MAX_PARTICIPANTS = 4  # AMI's close-up cameras: Closeup1..4
#: backchannel words and their weights
BACKCHANNELS = (("yeah", 3.0), ("mm-hmm", 3.0), ("okay", 2.0), ("right", 1.0))
#: non-speech mouth motion: kind -> (shortest, longest) frames
MOTIONS = {"smile": (25, 60), "chew": (50, 100), "nod": (15, 30)}
_MOTION_WEIGHTS = (0.35, 0.25, 0.4)

# random-stream tags (SeedSequence entropy words): never reuse one for another purpose
_TAG_PEOPLE, _TAG_PLAN = 0x4D454554, 0x504C414E

Timeline = Tuple[Tuple[str, int], ...]


def crc(text: str) -> int:
    """A stable 32-bit key of ``text`` (``hash()`` changes between interpreter runs)."""
    return zlib.crc32(text.encode("utf-8"))


def rng_for(*key: int) -> np.random.Generator:
    """A generator of its own stream for ``key``."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def series_of(meeting_id: str) -> str:
    """AMI's meeting series: ``ES2004a``..``ES2004d`` -> ``ES2004`` (one group of people); ``IB4001`` -> itself."""
    return meeting_id[:-1] if meeting_id[-1] in "abcd" else meeting_id


@dataclass(frozen=True)
class Participant:
    """One seat of a meeting as ``meetings.xml`` maps it: NXT agent letter, global name (``F``/``M`` + ``SY`` +
    number, AMI's pattern), headset ``channel`` (``Headset-<channel>.wav``), close-up ``camera``
    (``Closeup<camera>.avi``), scenario role, the synthetic speaker and how their face photo is shown in
    ``face`` close-ups (``flip``, RGB ``tint`` gains)."""

    agent: str
    name: str
    channel: int
    camera: int
    role: str
    speaker: Speaker
    flip: bool
    tint: Tuple[float, float, float]


@dataclass(frozen=True)
class Utterance:
    """What one participant says: ``timeline`` (phones, 25 fps frames, with leading/trailing silence) starts at
    meeting frame ``start``; ``spans`` are each word's ``[start, end)`` meeting frames."""

    participant: int
    words: Tuple[str, ...]
    timeline: Timeline
    start: int
    spans: Tuple[Tuple[int, int], ...]
    backchannel: bool = False

    @property
    def end(self) -> int:
        """Frame after the timeline's last one."""
        return self.start + sum(n for _, n in self.timeline)

    @property
    def speech_start(self) -> int:
        return self.spans[0][0]

    @property
    def speech_end(self) -> int:
        return self.spans[-1][1]


@dataclass(frozen=True)
class Motion:
    """Non-speech mouth (or head) motion of a silent participant: ``kind`` (a :data:`MOTIONS` key) over
    ``[start, start + n_frames)``."""

    participant: int
    kind: str
    start: int
    n_frames: int


@dataclass(frozen=True)
class Room:
    """The meeting room: size (m), reverberation time RT60 (s), each seat's mouth position, the room
    microphone (``Array1-01``) position and the room's background-noise level (dBFS RMS)."""

    dims: Tuple[float, float, float]
    rt60: float
    seats: Tuple[Tuple[float, float, float], ...]
    mic: Tuple[float, float, float]
    noise_db: float


@dataclass(frozen=True)
class MeetingPlan:
    """Everything a meeting's files are rendered from. ``crosstalk_db[k][j]``: how much lower participant ``j``'s
    voice is in ``k``'s headset than in their own (0 on the diagonal); ``crosstalk_delay[k][j]`` its delay in
    samples (the distance between the seats); ``headset_noise_db``: each headset's noise level (dBFS RMS);
    ``key``: the meeting's random-stream key for the renderers."""

    meeting_id: str
    n_frames: int
    participants: Tuple[Participant, ...]
    utterances: Tuple[Utterance, ...]
    motions: Tuple[Motion, ...]
    crosstalk_db: Tuple[Tuple[float, ...], ...]
    crosstalk_delay: Tuple[Tuple[int, ...], ...]
    headset_noise_db: Tuple[float, ...]
    room: Room
    key: Tuple[int, int]

    @property
    def seconds(self) -> float:
        return self.n_frames / FPS


def speech_activity(plan: MeetingPlan) -> np.ndarray:
    """``(n_participants, n_frames)`` bool: who speaks when (first word start to last word end of each
    utterance: the reference RTTM's turns)."""
    act = np.zeros((len(plan.participants), plan.n_frames), dtype=bool)
    for u in plan.utterances:
        act[u.participant, u.speech_start : u.speech_end] = True
    return act


def overlap_share(plan: MeetingPlan) -> float:
    """Share of speech time (any participant speaking) in which two or more speak."""
    count = speech_activity(plan).sum(axis=0)
    speech = int((count >= 1).sum())
    return float((count >= 2).sum()) / speech if speech else 0.0


# ---------------------------------------------------------------- participants
def _too_close(a: Speaker, b: Speaker) -> bool:
    """Voices a listener would confuse: f0 within 4 % and vocal-tract scale within 0.03."""
    return abs(math.log(a.voice.f0 / b.voice.f0)) < 0.04 and abs(a.voice.formant_scale - b.voice.formant_scale) < 0.03


def series_speakers(seed: int, series: str, number: int, n: int, avoid: Sequence[Speaker] = ()) -> List[Speaker]:
    """The ``n`` people of a meeting series: drawn from the series' own random stream (never the utterance
    corpus's), redrawn while a voice is too close to one in ``avoid`` (e.g. the utterance corpus's training
    speakers) or to an earlier participant. Named ``{F|M}SY{4 * number + slot + 1:03d}``."""
    rng = rng_for(seed, _TAG_PEOPLE, crc(series))
    out: List[Speaker] = []
    while len(out) < n:
        spk = sample_speaker("", rng)
        if any(_too_close(spk, o) for o in list(avoid) + out):
            continue
        sex = "F" if spk.voice.f0 > 160 else "M"
        out.append(dataclasses.replace(spk, name=f"{sex}SY{4 * number + len(out) + 1:03d}"))
    return out


def meeting_participants(
    seed: int, meeting_id: str, number: int, n: int, avoid: Sequence[Speaker] = ()
) -> Tuple[Participant, ...]:
    """The seats of ``meeting_id``: the series' people (agents A.. in order) with headset channels and cameras
    shuffled per meeting (the recipe must take them from ``meetings.xml``, never from the seat order)."""
    people = series_speakers(seed, series_of(meeting_id), number, n, avoid)
    look = rng_for(seed, _TAG_PEOPLE, crc(series_of(meeting_id)), 1)  # appearance: per person, not per meeting
    rng = rng_for(seed, _TAG_PEOPLE, crc(meeting_id), 2)
    channels, cameras = rng.permutation(n), rng.permutation(MAX_PARTICIPANTS)[:n] + 1
    out = []
    for i, spk in enumerate(people):
        flip = bool(look.random() < 0.5)
        tint = tuple(float(g) for g in look.uniform(0.85, 1.15, 3))
        out.append(Participant(AGENTS[i], spk.name, int(channels[i]), int(cameras[i]), ROLES[i], spk, flip, tint))
    return tuple(out)


# ---------------------------------------------------------------- turn-taking
@dataclass
class _Draft:
    participant: int
    words: Tuple[str, ...]
    timeline: Timeline
    rel_spans: Tuple[Tuple[int, int], ...]

    @property
    def lead(self) -> int:  # frames before the first word
        return self.rel_spans[0][0]

    @property
    def length(self) -> int:  # first word start to last word end
        return self.rel_spans[-1][1] - self.rel_spans[0][0]

    @property
    def n_frames(self) -> int:
        return sum(n for _, n in self.timeline)

    def place(self, speech_start: int, backchannel: bool = False) -> Utterance:
        start = speech_start - self.lead
        spans = tuple((start + a, start + b) for a, b in self.rel_spans)
        return Utterance(self.participant, self.words, self.timeline, start, spans, backchannel)


def _draft(participant: int, words: Sequence[str], speaker: Speaker, rng: np.random.Generator) -> _Draft:
    if tuple(words) == ("mm-hmm",):  # not in the lexicon: a closed-lips hum, /m h m/
        lead, tail = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        hum = [("m", 3), ("h", 2), ("m", 4)]
        hum = [(p, max(1, int(round(n * speaker.rate * rng.uniform(0.8, 1.25))))) for p, n in hum]
        timeline = [("sil", lead)] + hum + [("sil", tail)]
        spans = [(lead, lead + sum(n for _, n in hum))]
    else:
        timeline, spans = utterance_timeline(list(words), speaker, rng)
    return _Draft(participant, tuple(words), tuple(timeline), tuple(spans))


def _choose(rng: np.random.Generator, weights: np.ndarray, exclude: Optional[int] = None) -> Optional[int]:
    w = weights.copy()
    if exclude is not None:
        w[exclude] = 0.0
    if w.sum() <= 0:
        return None
    return int(rng.choice(len(w), p=w / w.sum()))


def _layout(drafts: List[_Draft], gaps: np.ndarray, ovs: np.ndarray, lead_in: int) -> np.ndarray:
    """Speech start frame of each main utterance: after the previous one's speech by its gap, or ``ov`` frames
    before the previous one's speech ends."""
    lengths = np.array([d.length for d in drafts])
    step = np.where(ovs > 0, -ovs, gaps)
    step[0] = 0
    return lead_in + np.concatenate([[0], np.cumsum(lengths[:-1] + step[1:])])


def _fit(drafts: List[_Draft], starts: np.ndarray, n_frames: int, margin: int) -> int:
    """How many leading main utterances end (their trailing silence included) ``margin`` frames before the end."""
    ends = starts + np.array([d.n_frames - d.lead for d in drafts])
    over = np.flatnonzero(ends > n_frames - margin)
    return int(over[0]) if over.size else len(drafts)


def _assign(budget: float, order: np.ndarray, caps: np.ndarray, n: int) -> np.ndarray:
    """Overlaps (frames) of the speaker changes among the first ``n`` utterances, ``order`` first, each up to its
    cap, summing to ``budget`` (to the frame)."""
    ovs = np.zeros(len(caps), dtype=np.int64)
    left = int(round(budget))
    for i in order:
        if left < 2:
            break
        if i >= n or caps[i] < 2:
            continue
        ovs[i] = min(int(caps[i]), left)
        left -= int(ovs[i])
    return ovs


def plan_meeting(cfg: "MeetingConfig", meeting_id: str, number: int, avoid: Sequence[Speaker] = ()) -> MeetingPlan:
    """Plan ``meeting_id`` (``number``: its series' index, for the participants' names) under ``cfg``."""
    key = (int(cfg.seed), crc(meeting_id))
    turns, gaps_rng, overlap_rng, bc_rng, motion_rng, room_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([key[0], _TAG_PLAN, key[1]]).spawn(6)
    )
    n = cfg.n_participants
    people = meeting_participants(cfg.seed, meeting_id, number, n, avoid)
    n_frames = int(round(cfg.seconds * FPS))
    weights = (
        np.asarray(cfg.talkativeness, dtype=float) if cfg.talkativeness else turns.uniform(0.5, 1.5, n)
    )  # how often each takes the floor; 0: never speaks

    # main utterances, more than can fit; each either continues the speaker's turn or changes speaker
    drafts: List[_Draft] = []
    cur = _choose(turns, weights)
    total = 0
    while cur is not None and total < 2 * n_frames + 100:
        words = sample_text(turns, "grammar", cfg.min_words, cfg.max_words)
        drafts.append(_draft(cur, words, people[cur].speaker, turns))
        total += drafts[-1].length
        if turns.random() >= 0.35:  # change speaker (the same one goes on when nobody else talks)
            cur = _choose(turns, weights, exclude=cur) if (weights > 0).sum() > 1 else cur
    if not drafts:
        raise ValueError("nobody speaks: give some participant a talkativeness above 0")
    switch = np.array([i > 0 and drafts[i].participant != drafts[i - 1].participant for i in range(len(drafts))])
    gaps = np.where(
        switch, gaps_rng.integers(3, 31, len(drafts)), gaps_rng.integers(5, 21, len(drafts))
    )  # pauses: 0.12-1.2 s between speakers, 0.2-0.8 s within a turn
    lengths = np.array([d.length for d in drafts])
    natural = overlap_rng.integers(8, 41, len(drafts))  # the longest overlap a speaker change may get: 0.3-1.6 s
    caps = np.minimum(natural, 0.4 * np.minimum(lengths, np.roll(lengths, 1))).astype(np.int64)
    caps[~switch] = 0
    order = overlap_rng.permutation(len(drafts))

    # backchannel candidates, a listener inside each main utterance of >= 2 s: the ``backchannels`` share of them
    # is said while the overlap budget allows, the others only where speaker changes cannot take up the budget
    bcs: Dict[int, _Draft] = {}
    said = set()
    for h, d in enumerate(drafts):
        if d.length < 50:
            continue
        chosen = bc_rng.random() < cfg.backchannels
        who = _choose(bc_rng, weights, exclude=d.participant)
        if who is not None:
            words = (BACKCHANNELS[int(bc_rng.choice(len(BACKCHANNELS), p=_bc_p()))][0],)
            bcs[h] = _draft(who, words, people[who].speaker, bc_rng)
            if chosen:
                said.add(h)
    perm = [int(h) for h in bc_rng.permutation(len(drafts)) if int(h) in bcs]
    bc_order = [h for h in perm if h in said] + [h for h in perm if h not in said]
    lead_in = int(gaps_rng.integers(12, 50))
    margin = 10

    ovs = np.zeros(len(drafts), dtype=np.int64)
    count = _fit(drafts, _layout(drafts, gaps, ovs, lead_in), n_frames, margin)
    for _ in range(50):
        kept, ovs = _overlap_budget(cfg.overlap, count, lengths, caps, order, bcs, bc_order, said)
        again = _fit(drafts, _layout(drafts, gaps, ovs, lead_in), n_frames, margin)
        if again == count:
            break
        count = again
    starts = _layout(drafts, gaps, ovs, lead_in)
    utts = [drafts[i].place(int(starts[i])) for i in range(count)]
    utts += _place_backchannels(utts, {h: bcs[h] for h in kept}, n, bc_rng)
    utts.sort(key=lambda u: (u.start, u.participant))
    motions = _motions(utts, n, n_frames, cfg.nonspeech_motion, motion_rng)
    room, xt_db, xt_delay, noise_db = _acoustics(n, cfg.crosstalk_db, room_rng)
    return MeetingPlan(meeting_id, n_frames, people, tuple(utts), motions, xt_db, xt_delay, noise_db, room, key)


def _overlap_budget(
    r: float,
    count: int,
    lengths: np.ndarray,
    caps: np.ndarray,
    order: np.ndarray,
    bcs: Dict[int, _Draft],
    bc_order: Sequence[int],
    said: set,
) -> Tuple[List[int], np.ndarray]:
    """The backchannels kept and each speaker change's overlap, so that the first ``count`` main utterances and
    those backchannels overlap ``r / (1 + r)`` of their summed speech (each backchannel overlaps all of its own)."""
    main = float(lengths[:count].sum())
    kept: List[int] = []
    bc_len = 0.0

    def need(bc: float) -> float:  # frames the speaker changes must overlap
        return r / (1 + r) * (main + bc) - bc

    def assign() -> np.ndarray:
        capped = caps.copy()
        for h in kept:  # room for the backchannel inside its host's own (not overlapped) speech
            room = max(0, (lengths[h] - bcs[h].length - 8) // 2)
            capped[h] = min(capped[h], room)
            if h + 1 < len(capped):
                capped[h + 1] = min(capped[h + 1], room)
        return _assign(need(bc_len), order, capped, count)

    short: Optional[float] = None  # overlap the speaker changes cannot take (known until a backchannel is added)
    for h in bc_order:
        if h >= count or need(bc_len + bcs[h].length) < 0:
            continue
        if h not in said:
            if short is None:
                short = need(bc_len) - float(assign().sum())
            if short < 0.5 * bcs[h].length / (1 + r):
                continue
        kept.append(h)
        bc_len += bcs[h].length
        short = None
    return kept, assign()


def _bc_p() -> np.ndarray:
    w = np.array([w for _, w in BACKCHANNELS])
    return w / w.sum()


def _place_backchannels(
    main: List[Utterance], bcs: Dict[int, _Draft], n: int, rng: np.random.Generator
) -> List[Utterance]:
    """Each backchannel inside its host's speech, clear of the host's overlapped edges and of the listener's own
    speech (5 frames either side); one that finds no such place is left out."""
    busy: List[List[Tuple[int, int]]] = [[] for _ in range(n)]
    for u in main:
        busy[u.participant].append((u.speech_start - 5, u.speech_end + 5))
    out = []
    for h in sorted(bcs):
        host, bc = main[h], bcs[h]
        lo = host.speech_start + 3
        if h > 0:
            lo = max(lo, main[h - 1].speech_end + 3)
        hi = host.speech_end - 3 - bc.length
        if h + 1 < len(main):
            hi = min(hi, main[h + 1].speech_start - 3 - bc.length)
        near = [(a, b) for a, b in busy[bc.participant] if b > lo and a < hi + bc.length]
        free = [s for s in range(max(lo, bc.lead), hi + 1) if all(s + bc.length <= a or s >= b for a, b in near)]
        if not free:
            continue
        s = free[int(rng.integers(len(free)))]
        out.append(bc.place(s, backchannel=True))
        busy[bc.participant].append((s - 5, s + bc.length + 5))
    return out


def _motions(
    utts: Sequence[Utterance], n: int, n_frames: int, fraction: float, rng: np.random.Generator
) -> Tuple[Motion, ...]:
    """Non-speech motion over ``fraction`` of each participant's silent frames (8 frames clear of their speech)."""
    out: List[Motion] = []
    kinds = list(MOTIONS)
    for p in range(n):
        free = np.ones(n_frames, dtype=bool)
        for u in utts:
            if u.participant == p:
                free[max(0, u.start - 8) : u.end + 8] = False
        target = fraction * free.sum()
        done = 0
        while done < target:
            kind = kinds[int(rng.choice(len(kinds), p=_MOTION_WEIGHTS))]
            lo, hi = MOTIONS[kind]
            length = int(rng.integers(lo, hi + 1))
            starts = _free_starts(free, length)
            if not starts.size:  # no silence that long left: a short nod, or nothing fits any more
                kind, length = "nod", MOTIONS["nod"][0]
                starts = _free_starts(free, length)
                if not starts.size:
                    break
            s = int(starts[int(rng.integers(starts.size))])
            out.append(Motion(p, kind, s, length))
            free[max(0, s - 5) : s + length + 5] = False
            done += length
    return tuple(sorted(out, key=lambda m: (m.start, m.participant)))


def _free_starts(free: np.ndarray, length: int) -> np.ndarray:
    """Frames where ``length`` free frames begin."""
    c = np.concatenate([[0], np.cumsum(free, dtype=np.int64)])
    return np.flatnonzero(c[length:] - c[:-length] == length)


def _acoustics(n: int, crosstalk_db: Tuple[float, float], rng: np.random.Generator):
    """Room geometry (participants two per long side of a 2 x 1.7 m table, the room microphone on it), the
    crosstalk attenuations (a different one per headset/talker pair), their delays and the headset noise."""
    dims = (float(rng.uniform(5.5, 8.0)), float(rng.uniform(4.5, 6.5)), float(rng.uniform(2.6, 3.2)))
    cx, cy = dims[0] / 2 + rng.uniform(-0.5, 0.5), dims[1] / 2 + rng.uniform(-0.4, 0.4)
    corners = ((-0.5, -0.85), (0.5, 0.85), (0.5, -0.85), (-0.5, 0.85))
    seats = tuple(
        (
            float(cx + dx + rng.uniform(-0.1, 0.1)),
            float(cy + dy + rng.uniform(-0.1, 0.1)),
            float(rng.uniform(1.15, 1.3)),
        )
        for dx, dy in corners[:n]
    )
    mic = (float(cx + rng.uniform(-0.3, 0.3)), float(cy + rng.uniform(-0.2, 0.2)), 0.8)
    room = Room(dims, float(rng.uniform(0.35, 0.6)), seats, mic, float(rng.uniform(-48.0, -40.0)))
    lo, hi = crosstalk_db
    att = rng.uniform(lo, hi, (n, n))
    np.fill_diagonal(att, 0.0)
    pos = np.array(seats)
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    delay = np.rint(dist / 343.0 * 16000).astype(int)
    noise = tuple(float(x) for x in rng.uniform(-62.0, -52.0, n))
    return (
        room,
        tuple(tuple(float(x) for x in row) for row in att),
        tuple(tuple(int(x) for x in row) for row in delay),
        noise,
    )
