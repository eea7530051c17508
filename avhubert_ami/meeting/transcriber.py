"""Who said what, when: :class:`MeetingTranscriber`, a fine-tuned AV-HuBERT recogniser applied to a whole meeting.

    >>> from avhubert_ami.meeting.sources import ami_meeting
    >>> mt = MeetingTranscriber.from_checkpoint("checkpoint_best.pt", SearchSettings(beam=5))
    >>> result = mt.transcribe(ami_meeting("/data/ami", "ES2004a", lip_video=True))
    >>> for seg in result.segments:                   # MeetingSegment: speaker, start_time, end_time, words, extras
    ...     print(seg.speaker, seg.start_time, seg.words)
    >>> write_meeting("out", result.meeting_id, result.segments, meta=result.meta())

Stages, each streamed (a meeting is never held in memory):

1. **audio** -- the recordings the condition (:data:`~avhubert_ami.meeting.sources.AUDIO_SOURCES`) uses, as 16 kHz
   mono wavs (converted into a temporary folder only when they are not): ``headset`` gives each participant their
   own headset and the room microphone to those without one; ``room`` gives everyone the room microphone (AMI's
   Array1-01) and ``mix`` the headset mix, each participant told apart by their own lips. An unreadable or missing
   headset falls back to the room microphone, with a note.
2. **roi** -- each close-up camera read once on the meeting's 25 fps clock (:class:`~.tracks.CameraTrack`): mouth
   crops made on the fly from face videos, or the mouth clips as they are (``lip_video``). An unreadable or
   missing camera leaves its participant to audio, with a note.
3. **activity** -- who speaks when, per participant, from lips and audio (:func:`~.activity.detect_activity`,
   ``ActivityConfig.mode`` av | audio | video); segments are capped at the model's longest input. Reference
   segments (``transcribe(meeting, segments=...)``) replace this stage: the oracle.
4. **decoding** -- every participant's segments with their own lips and their audio, batched across participants
   in time order (:class:`~avhubert_ami.transcribe.Transcriber` builds each segment's model input and runs the
   recogniser's search). Two participants who overlap are each decoded from their own face; the audio is the
   condition's (in a headset, the wearer dominates; in the room, both voices are there and the lips pick).

The real-time factor has one definition: a stage's processing seconds per second of meeting (model loading
excluded); the total is the sum of the stages. Notes (fallbacks, caveats) go to the result, per participant and
per segment.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from avhubert_ami.data.constants import FPS
from avhubert_ami.decoding.recognizer import Recognizer
from avhubert_ami.decoding.settings import SearchSettings
from avhubert_ami.errors import MediaError, UsageError
from avhubert_ami.meeting.activity import ActiveSegment, ActivityConfig, Participant, detect_activity
from avhubert_ami.meeting.formats import MeetingSegment, check_same_meeting
from avhubert_ami.meeting.sources import AUDIO_SOURCES, MeetingMedia
from avhubert_ami.meeting.tracks import CameraTrack, Stopwatch, wav_16k

logger = logging.getLogger(__name__)

STAGES = ("audio", "roi", "activity", "decoding")


@dataclass
class MeetingSettings:
    """What the meeting transcriber feeds the recogniser (recorded in ``ID.json``)."""

    audio_source: str = "headset"  # headset | room | mix (see the module docstring)
    modalities: Optional[Tuple[str, ...]] = None  # recognition input; None: what the model and the inputs have
    min_face_fraction: float = 0.5  # a segment with a face in fewer of its frames is decoded without video
    landmark_backend: str = "auto"  # face landmarks for mouth crops made on the fly (avhubert_ami.prep.landmarks)

    def check(self) -> "MeetingSettings":
        """Refuse settings that cannot work, naming the flag; returns self."""
        if self.audio_source not in AUDIO_SOURCES:
            raise UsageError(f"--audio_source {self.audio_source}: choose among {', '.join(AUDIO_SOURCES)}")
        if self.modalities is not None:
            bad = [m for m in self.modalities if m not in ("audio", "video")]
            if bad or not self.modalities:
                raise UsageError(f"--modalities {','.join(self.modalities)}: audio, video or audio,video")
            self.modalities = tuple(sorted(set(self.modalities)))
        if not 0.0 <= self.min_face_fraction <= 1.0:
            raise UsageError(f"min_face_fraction {self.min_face_fraction}: must be in [0, 1]")
        return self


@dataclass
class MeetingStats:
    """Processing seconds per stage (wall clock) and the meeting's length, for the real-time factors; ``cpu``: the
    process CPU seconds of each stage (the work itself, where other processes share the cores)."""

    duration: float = 0.0  # seconds of meeting (the longest recording or camera)
    audio: float = 0.0
    roi: float = 0.0
    activity: float = 0.0
    decoding: float = 0.0
    cpu: Dict[str, float] = field(default_factory=dict)

    def processing_s(self) -> float:
        """Seconds spent in all stages."""
        return sum(getattr(self, s) for s in STAGES)

    def rtf(self) -> Dict[str, float]:
        """Real-time factor of each stage and in total: processing seconds per second of meeting."""
        d = max(self.duration, 1e-9)
        out = {s: round(getattr(self, s) / d, 4) for s in STAGES}
        out["total"] = round(self.processing_s() / d, 4)
        return out

    def record(self, stage: str, watch: Stopwatch) -> None:
        """Set ``stage``'s seconds from a stopwatch."""
        setattr(self, stage, watch.wall)
        self.cpu[stage] = watch.cpu


@dataclass
class ParticipantReport:
    """How one participant was handled: the media used, the activity cues, notes, segment count."""

    name: str
    video: Optional[str]  # the close-up used (None: none, or unreadable)
    headset: Optional[str]  # the headset used for activity (None in the room and mix conditions)
    audio: Optional[str]  # the recording their words were recognised from
    audio_source: Optional[str]  # headset | room | mix (None: no audio)
    cues: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    segments: int = 0
    words: int = 0


@dataclass
class MeetingResult:
    """A transcribed meeting: segments in time order (``extras``: modalities used, audio and video source, activity
    score, beam score, note), participants, notes, timings and the settings (:meth:`meta` for ``ID.json``)."""

    meeting_id: str
    segments: List[MeetingSegment]
    participants: List[ParticipantReport]
    notes: List[str]
    stats: MeetingStats
    settings: Dict[str, Any]
    wall_s: float = 0.0
    scores: Optional[Dict[str, Any]] = None

    def meta(self) -> Dict[str, Any]:
        """The ``ID.json`` header: settings and model, participants, notes, timings, real-time factors, scores."""
        out: Dict[str, Any] = {"session_id": self.meeting_id, "duration_s": round(self.stats.duration, 3)}
        out.update(self.settings)
        out["participants"] = [asdict(p) for p in self.participants]
        out["notes"] = list(self.notes)
        out["timing_s"] = {s: round(getattr(self.stats, s), 3) for s in STAGES}
        out["cpu_s"] = {s: round(self.stats.cpu.get(s, 0.0), 3) for s in STAGES}
        out["rtf"] = self.stats.rtf()
        out["rtf_definition"] = "processing seconds per second of meeting, per stage; model loading excluded"
        out["wall_s"] = round(self.wall_s, 3)
        if self.scores is not None:
            out["scores"] = self.scores
        return out


@dataclass
class _Person:
    """Working state of one participant during a run."""

    report: ParticipantReport
    activity_wav: Optional[str] = None  # headset wav for the activity detector
    wav: Optional[str] = None  # 16 kHz recognition audio
    track: Optional[CameraTrack] = None
    segments: List[ActiveSegment] = field(default_factory=list)


class MeetingTranscriber:
    """A meeting transcriber on a loaded :class:`~avhubert_ami.decoding.recognizer.Recognizer` (see the module
    docstring). ``settings``: audio condition and recognition input; ``activity``: the activity detector's knobs
    (its ``max_segment_s`` is capped at the model's longest input)."""

    def __init__(
        self,
        recognizer: Recognizer,
        settings: Optional[MeetingSettings] = None,
        activity: Optional[ActivityConfig] = None,
    ) -> None:
        from avhubert_ami.transcribe.transcriber import Transcriber, TranscribeSettings

        self.recognizer = recognizer
        self.settings = (settings or MeetingSettings()).check()
        self.activity = replace(activity) if activity is not None else ActivityConfig()  # a copy: capped below
        self.activity.validate()
        # the transcriber builds each segment's model input (the checkpoint's own input settings) and decodes batches
        self.segmenter = Transcriber(
            recognizer,
            TranscribeSettings(
                min_face_fraction=self.settings.min_face_fraction, landmark_backend=self.settings.landmark_backend
            ),
        )
        self.max_segment_s = self.segmenter.vad.max_segment_s  # the model's longest input
        if self.activity.max_segment_s is None or self.activity.max_segment_s > self.max_segment_s:
            self.activity.max_segment_s = self.max_segment_s
        want = self.settings.modalities or recognizer.model_modalities
        missing = sorted(set(want) - set(recognizer.model_modalities))
        if missing:
            trained = ",".join(recognizer.model_modalities)
            raise UsageError(f"--modalities {','.join(want)}: the model was trained with {trained} only")
        self.modalities: Tuple[str, ...] = tuple(want)

    @classmethod
    def from_checkpoint(
        cls,
        path: str,
        search: Optional[SearchSettings] = None,
        *,
        data_dir: Optional[str] = None,
        device: Optional[str] = None,
        settings: Optional[MeetingSettings] = None,
        activity: Optional[ActivityConfig] = None,
    ) -> "MeetingTranscriber":
        """Load a fine-tuned checkpoint (:meth:`Recognizer.from_checkpoint`) and build the transcriber on it."""
        recognizer = Recognizer.from_checkpoint(path, search, data_dir=data_dir, device=device)
        return cls(recognizer, settings, activity)

    # ---- the run ----------------------------------------------------------------------------------------------
    def transcribe(
        self,
        meeting: MeetingMedia,
        segments: Optional[Sequence[MeetingSegment]] = None,
        progress: bool = False,
    ) -> MeetingResult:
        """Transcribe ``meeting``. ``segments``: reference turns to decode instead of the detected activity (the
        oracle; their speakers must be the participants' names, their session the meeting's). ``progress``: a tqdm
        bar with the real-time factor so far."""
        meeting.check()
        if segments is not None:
            self._check_oracle(meeting, segments)
        t_run = time.perf_counter()
        stats = MeetingStats()
        notes = list(meeting.notes)
        with tempfile.TemporaryDirectory(prefix="avhubert_meeting_") as tmp:
            watch = Stopwatch().start()
            people, room_wav, durations = self._audio(meeting, tmp, notes)
            stats.record("audio", watch.stop())
            self._cameras(meeting, people, tmp, durations, segments is not None)
            stats.duration = max(durations, default=0.0)
            if stats.duration <= 0:
                notes.append("the meeting's recordings and cameras are empty (0 s): empty transcript")
                return self._result(meeting, people, [], notes, stats, segments, t_run)
            feeds, bar = self._camera_feeds(meeting.meeting_id, people, stats, progress)
            if segments is None:
                stats.record("activity", self._detect(people, feeds, room_wav))
            else:
                for p in people:
                    p.segments = self._oracle_spans([s for s in segments if s.speaker == p.report.name])
                    p.report.cues = ["reference segments"]
            for p, feed in zip(people, feeds):
                if p.track is not None and not p.track.done:
                    for _ in feed:  # the clip the decoding reads (audio-only activity, reference segments)
                        pass
            bar.close()
            roi = Stopwatch()
            for p in people:
                if p.track is not None:
                    roi.wall, roi.cpu = roi.wall + p.track.watch.wall, roi.cpu + p.track.watch.cpu
            stats.record("roi", roi)
            for stage in ("audio", "roi", "activity"):
                logger.info(
                    "%s: %s stage %.1f s (RTF %.3f)",
                    meeting.meeting_id,
                    stage,
                    getattr(stats, stage),
                    stats.rtf()[stage],
                )
            self._camera_notes(people, stats.duration)
            watch = Stopwatch().start()
            out = self._decode(meeting.meeting_id, people, stats, progress)
            stats.record("decoding", watch.stop())
            logger.info(
                "%s: decoding stage %.1f s (RTF %.3f)", meeting.meeting_id, stats.decoding, stats.rtf()["decoding"]
            )
        return self._result(meeting, people, out, notes, stats, segments, t_run)

    def _result(self, meeting, people, out, notes, stats, segments, t_run) -> MeetingResult:
        for p in people:
            mine = [s for s in out if s.speaker == p.report.name]
            p.report.segments = len(mine)
            p.report.words = sum(len(s.words.split()) for s in mine)
            if not mine and stats.duration > 0:
                p.report.notes.append("no speech detected: no segments" if segments is None else "no reference turns")
        return MeetingResult(
            meeting.meeting_id,
            sorted(out, key=lambda s: (s.start_time, s.end_time, s.speaker)),
            [p.report for p in people],
            notes,
            stats,
            self.record(meeting, segments is not None),
            time.perf_counter() - t_run,
        )

    def record(self, meeting: MeetingMedia, oracle: bool = False) -> Dict[str, Any]:
        """The model, the search as used and the meeting settings, for ``ID.json``."""
        search = self.recognizer.record()
        model = {k: search.pop(k) for k in ("model", "model_modalities", "device")}
        return {
            **model,
            "decoding": search,
            "audio_source": self.settings.audio_source,
            "modalities": list(self.modalities),
            "lip_video": meeting.lip_video,
            "segments_from": "reference" if oracle else "activity",
            "min_face_fraction": self.settings.min_face_fraction,
            "landmark_backend": self.settings.landmark_backend,
            "activity": asdict(self.activity),
        }

    # ---- stage 1: audio ---------------------------------------------------------------------------------------
    def _audio(self, meeting: MeetingMedia, tmp: str, notes: List[str]) -> Tuple[List[_Person], Optional[str], list]:
        """Participants with their activity and recognition audio as 16 kHz wavs, the activity's room channel, and
        the recordings' durations."""
        source = self.settings.audio_source
        converted: Dict[str, Tuple[Optional[str], float, str]] = {}  # path -> (wav or None, seconds, error)
        durations: List[float] = []

        def wav(path: str) -> Tuple[Optional[str], str]:
            if path not in converted:
                dst = os.path.join(tmp, f"audio{len(converted)}.wav")
                try:
                    out, seconds = wav_16k(path, dst, notes)
                    converted[path] = (out, seconds, "")
                    durations.append(seconds)
                except MediaError as err:
                    converted[path] = (None, 0.0, str(err))
            return converted[path][0], converted[path][2]

        shared = {"room": meeting.room, "mix": meeting.mix}.get(source)
        if source != "headset" and shared is None:
            what = "room microphone (Array1-01.wav, or --room_audio)" if source == "room" else "Mix-Headset.wav"
            raise UsageError(f"--audio_source {source}: meeting {meeting.meeting_id} has no {what}")
        people = []
        for pm in meeting.participants:
            report = ParticipantReport(pm.name, pm.video, None, None, None)
            person = _Person(report)
            if source == "headset" and pm.headset is not None:
                person.activity_wav, err = wav(pm.headset)
                if err:
                    report.notes.append(f"headset unreadable ({err})")
                else:
                    report.headset = report.audio = pm.headset
                    report.audio_source = "headset"
            people.append(person)
        bare = [p for p in people if p.activity_wav is None]
        room_wav = None
        if shared is None and bare:  # headset condition: the room hears those without one
            shared = meeting.room
            if shared is None:
                for p in bare:
                    p.report.notes.append("no headset and no room microphone: no audio, lips only")
        if shared is not None and bare:
            room_wav, err = wav(shared)
            for p in bare:
                if err:
                    p.report.notes.append(f"no audio: {shared} unreadable ({err})")
                else:
                    p.report.audio, p.report.audio_source = shared, "room" if source != "mix" else "mix"
                    if source == "headset":
                        p.report.notes.append("no usable headset: room microphone used")
        for p in people:
            p.wav = converted[p.report.audio][0] if p.report.audio else None
        return people, room_wav, durations

    # ---- stage 2: cameras -------------------------------------------------------------------------------------
    def _cameras(self, meeting: MeetingMedia, people: List[_Person], tmp: str, durations: list, oracle: bool) -> None:
        """Open every close-up the run needs (lips for activity or recognition); unreadable ones become notes."""
        uses_lips = "video" in self.modalities or (self.activity.mode != "audio" and not oracle)
        for i, p in enumerate(people):
            path = meeting.participants[i].video
            if path is None:
                if "video" in self.modalities:
                    p.report.notes.append("no camera: recognised from audio only")
                continue
            if not uses_lips:
                p.report.video = None
                continue
            try:
                p.track = CameraTrack(
                    p.report.name,
                    path,
                    meeting.lip_video,
                    os.path.join(tmp, f"mouth{i}.mkv"),
                    self.settings.landmark_backend,
                )
                durations.append(p.track.duration)
            except MediaError as err:
                p.report.video = None
                p.report.notes.append(f"camera unreadable ({err}): audio only")

    @staticmethod
    def _camera_notes(people: List[_Person], duration: float) -> None:
        for p in people:
            if p.track is None:
                continue
            p.report.notes.extend(p.track.notes)
            covered = p.track.n_frames / FPS
            if covered < duration - 0.5:
                p.report.notes.append(
                    f"camera covers {covered:.1f} s of the {duration:.1f} s meeting: audio only after it"
                )
            if p.track.clip is None:
                hint = "" if p.track.lip_video else " (mouth clips need lip_video / --lip_video)"
                p.report.notes.append(f"no face found in the whole camera: audio only{hint}")
                p.report.video = None

    # ---- stage 3: activity ------------------------------------------------------------------------------------
    @staticmethod
    def _camera_feeds(meeting_id: str, people: List[_Person], stats: MeetingStats, progress: bool) -> Tuple[List, Any]:
        """Each participant's camera chunks (None without a camera), read once, with one progress bar for all:
        frames read and the real-time factor so far (all stages' seconds per second of meeting reached)."""
        from tqdm import tqdm

        tracks = [p.track for p in people if p.track is not None]
        total = int(round(stats.duration * FPS)) * len(tracks)
        bar = tqdm(total=total, desc=f"meeting {meeting_id} cameras", unit="frame", disable=not progress, leave=False)
        t_start = time.perf_counter()

        def watched(track: CameraTrack):
            for chunk in track.chunks():
                bar.update(len(chunk[0]))
                reached = bar.n / len(tracks) / FPS
                spent = stats.processing_s() + time.perf_counter() - t_start
                bar.set_postfix(rtf=f"{spent / max(reached, 1e-9):.3f}", refresh=False)
                yield chunk

        return [None if p.track is None else watched(p.track) for p in people], bar

    def _detect(self, people: List[_Person], feeds: List, room_wav: Optional[str]) -> Stopwatch:
        """Run the activity detector; returns its time (the cameras' reading counted as the roi stage)."""
        lips = self.activity.mode != "audio"
        parts = [Participant(p.report.name, feed if lips else None, p.activity_wav) for p, feed in zip(people, feeds)]
        tracks = [p.track for p in people if p.track is not None]
        before = [(t.watch.wall, t.watch.cpu) for t in tracks]
        watch = Stopwatch().start()
        result = detect_activity(parts, room_wav, self.activity)
        watch.stop()
        for t, (wall, cpu) in zip(tracks, before):
            watch.wall, watch.cpu = watch.wall - (t.watch.wall - wall), watch.cpu - (t.watch.cpu - cpu)
        for p, r in zip(people, result):
            p.segments = list(r.segments)
            p.report.cues = list(r.cues)
            p.report.notes.extend(r.notes)
        return watch

    def _check_oracle(self, meeting: MeetingMedia, segments: Sequence[MeetingSegment]) -> None:
        names = {p.name for p in meeting.participants}
        strangers = sorted({s.speaker for s in segments} - names)
        if strangers:
            raise UsageError(
                f"--segments: speaker(s) {', '.join(strangers)} are not participants of {meeting.meeting_id} "
                f"({', '.join(sorted(names))}): name the participants as the reference does"
            )
        try:
            check_same_meeting(segments, meeting.meeting_id, "--segments")
        except ValueError as err:
            raise UsageError(str(err)) from None

    def _oracle_spans(self, turns: Sequence[MeetingSegment]) -> List[ActiveSegment]:
        """Reference turns on the 40 ms grid, longer ones cut into equal pieces the model can take."""
        out = []
        for t in sorted(turns, key=lambda s: s.start_time):
            start, end = round(t.start_time * FPS) / FPS, round(t.end_time * FPS) / FPS
            if end <= start:
                continue
            n = max(1, int(-(-(end - start) // self.max_segment_s)))
            step = round((end - start) / n * FPS) / FPS
            for k in range(n):
                a = start + k * step
                out.append(ActiveSegment(round(a, 3), round(end if k == n - 1 else a + step, 3), 1.0))
        return out

    # ---- stage 4: decoding ------------------------------------------------------------------------------------
    def _decode(self, meeting_id: str, people: List[_Person], stats: MeetingStats, progress: bool) -> List:
        from tqdm import tqdm

        from avhubert_ami.transcribe.media import Wav16k
        from avhubert_ami.transcribe.transcriber import Plan

        wavs = {p.wav: Wav16k(p.wav) for p in people if p.wav}
        # what each segment was fed, named by the file the user gave (not the temporary copies)
        origin = {p.wav: (p.report.audio, p.report.audio_source) for p in people if p.wav}
        origin.update({p.track.clip: (p.track.path, None) for p in people if p.track is not None and p.track.clip})
        jobs = sorted(((seg, i) for i, p in enumerate(people) for seg in p.segments), key=lambda j: (j[0].start, j[1]))
        out: List[MeetingSegment] = []
        batch: List[Tuple[dict, _Job]] = []
        batch_size = self.recognizer.settings.batch_size
        t_start = time.perf_counter()
        bar = tqdm(jobs, desc=f"meeting {meeting_id}", unit="seg", disable=not progress, leave=False)
        for seg, i in bar:
            p = people[i]
            audio = p.wav if "audio" in self.modalities else None
            video, note = None, ""
            if "video" in self.modalities and p.track is not None and p.track.clip is not None:
                share = p.track.face_fraction(seg.start, seg.end)
                if share >= self.settings.min_face_fraction:
                    video = p.track.clip
                else:
                    note = f"a face in {100 * share:.0f}% of the frames: decoded without video"
            job = _Job(p.report.name, seg, origin.get(audio, (None, None)), origin.get(video, (None, None))[0], note)
            if audio is None and video is None:
                out.append(job.segment(meeting_id, "", [], None, note or "no audio and no face here: not decoded"))
                continue
            use = tuple(m for m, src in (("audio", audio), ("video", video)) if src)
            plan = Plan(video=video, audio=audio, lip_video=True, use=use, fps=FPS)
            batch.append((self.segmenter.segment_item(plan, wavs.get(audio), seg.start, seg.end), job))
            if len(batch) >= batch_size:
                out += self._run_batch(meeting_id, batch)
                batch = []
            # real-time factor so far: all stages' seconds per second of meeting reached
            spent = stats.processing_s() + time.perf_counter() - t_start
            bar.set_postfix(rtf=f"{spent / max(seg.end, 1e-9):.3f}", refresh=False)
        if batch:
            out += self._run_batch(meeting_id, batch)
        return out

    def _run_batch(self, meeting_id: str, batch: List[Tuple[dict, "_Job"]]) -> List[MeetingSegment]:
        decoded = self.segmenter.decode_batch([item for item, _ in batch])
        out = []
        for (_, job), d in zip(batch, decoded):
            note = "; ".join(n for n in (job.note, d.note) if n)
            out.append(job.segment(meeting_id, d.text, d.modalities, d.avg_logprob, note))
        return out


class _Job(NamedTuple):
    """One segment to decode: whose, when, and what it is fed (the user's files: audio and its source, video)."""

    speaker: str
    span: ActiveSegment
    audio: Tuple[Optional[str], Optional[str]]  # (file, headset | room | mix)
    video: Optional[str]
    note: str

    def segment(self, meeting_id: str, text: str, modalities, score: Optional[float], note: str) -> MeetingSegment:
        """The transcript segment, with what was used in ``extras``."""
        fed_audio, fed_video = "audio" in modalities, "video" in modalities
        extras: Dict[str, Any] = {
            "modalities": list(modalities),
            "audio_source": self.audio[1] if fed_audio else None,
            "audio_file": self.audio[0] if fed_audio else None,
            "video_file": self.video if fed_video else None,
            "activity_score": round(float(self.span.score), 4),
            "avg_logprob": None if score is None else round(float(score), 4),
        }
        if note:
            extras["note"] = note
        s = self.span
        return MeetingSegment(meeting_id, self.speaker, s.start, s.end, " ".join(text.split()), extras)
