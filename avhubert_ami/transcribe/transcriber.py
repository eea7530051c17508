"""``Transcriber``: a fine-tuned AV-HuBERT checkpoint applied to whole recordings.

Audio is decoded once to a 16 kHz mono wav in a temporary folder (streamed), segmented by voice activity
(:mod:`avhubert_ami.transcribe.vad`); a video without audio is cut into overlapping fixed windows. Each segment
gets the model input of the training data -- ``avhubert_ami.data.features`` for audio, the mouth ROI of
``avhubert_ami.prep.mouth_roi`` and ``avhubert_ami.data.video.crop_flip_normalize`` for video, with the checkpoint's own
input settings -- and segments are decoded in batches with the task's beam search, then stitched in time order.
Batches group segments of similar length (longest first; ``TranscribeSettings.sort_by_length``): every row of a
batch is computed at the length of its longest, so time-order batches of mixed lengths spend much of the front-end's
and encoder's work on padding. Rows of a batch do not interact (padded frames are masked), so the grouping changes
hypotheses only by float rounding, and by the search's length cap, which follows the longest row of a batch
(``max_len_a * frames + max_len_b``) and so fits each segment more closely. Only one batch of segments is in
memory at a time.

**What was transcribed is said, not assumed.** A stream that ends before the length its file declares (a truncated
download, a cut file) or a video shorter than its separate audio is transcribed as far as it goes, and
:attr:`Transcriber.stats` says so (``decoded_s``, ``ended_early``) with one note per stream; segments after the end
of the video are decoded from audio alone under one note, not one per segment. A face video in which no face is found
anywhere (a mouth clip passed without ``lip_video=True``) is decoded from its audio with a logged warning.

**One real-time factor** (:func:`real_time_factor`): wall-clock seconds of :meth:`Transcriber.transcribe` -- reading,
voice activity, mouth crops, features, decoding; model loading and writing outputs excluded -- per second of media
transcribed (``decoded_s``). The progress bar (so far), the log line, ``NAME.json`` and the command line's summary all
show it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from avhubert_ami.data.constants import FPS, MODALITIES, SAMPLE_RATE
from avhubert_ami.decoding.recognizer import Recognizer
from avhubert_ami.decoding.settings import SearchSettings
from avhubert_ami.errors import UsageError
from avhubert_ami.transcribe.media import StreamReach, Wav16k, decode_audio_to_wav, probe
from avhubert_ami.transcribe.segments import Segment, stitch
from avhubert_ami.transcribe.vad import VadConfig, fixed_windows, frame_activity, require_vad, speech_segments

logger = logging.getLogger(__name__)

DEFAULT_MAX_FRAMES = 500  # upstream AV-HuBERT's max_sample_size when a checkpoint sets none
#: a stream this much shorter than its file declares has ended early (codec padding and priming are far shorter)
ENDED_EARLY_S = 0.5


class TranscribeError(UsageError):
    """An input that cannot be transcribed (the message names it and says why)."""


@dataclass
class TranscribeSettings:
    """How recordings are cut into segments and what a segment needs (written into every ``NAME.json``)."""

    window_s: float = 10.0  # video without audio: window length ...
    window_overlap_s: float = 1.0  # ... and overlap
    min_face_fraction: float = 0.5  # a segment with faces in fewer frames is decoded without video
    landmark_backend: str = "auto"
    sort_by_length: bool = True  # batch segments of similar length together (False: in time order)

    def check(self) -> "TranscribeSettings":
        """Refuse settings that cannot cut a recording, naming the flag."""
        if self.window_s <= 0:
            raise UsageError(f"--window_s {self.window_s}: must be > 0")
        if not 0 <= self.window_overlap_s < self.window_s:
            raise UsageError(f"--window_overlap_s {self.window_overlap_s}: must be in [0, --window_s)")
        if not 0.0 <= self.min_face_fraction <= 1.0:
            raise UsageError(f"min_face_fraction {self.min_face_fraction}: must be in [0, 1]")
        return self


def real_time_factor(wall_s: float, media_s: float) -> Optional[float]:
    """The one real-time factor of transcription: wall-clock seconds spent transcribing (model loading and writing
    outputs excluded) per second of media transcribed; None when no media was transcribed (nothing to divide by)."""
    return round(wall_s / media_s, 4) if media_s > 0 else None


def format_rtf(rtf: Optional[float]) -> str:
    """A real-time factor as printed (``n/a`` without media)."""
    return "n/a" if rtf is None else f"{rtf:.3f}"


#: the stages whose seconds :class:`Stats` counts
STAGES = ("audio_decode", "vad", "roi", "features", "decode")


@dataclass
class Stats:
    """One recording's durations and the seconds spent per stage, for real-time factors."""

    media_s: float = 0.0  # the duration the input declares (its longest stream)
    decoded_s: float = 0.0  # seconds of media transcribed: as far as the streams used really go
    wall_s: float = 0.0  # wall-clock seconds of Transcriber.transcribe (the real-time factor's numerator)
    audio_decode: float = 0.0
    vad: float = 0.0
    roi: float = 0.0
    features: float = 0.0
    decode: float = 0.0
    #: stream -> {"ends_s", "declared_s"} for each stream that ended before its declared length
    ended_early: Dict[str, Dict[str, float]] = field(default_factory=dict)

    def processing_s(self) -> float:
        """Seconds spent in the stages (the rest of ``wall_s`` is probing, stitching and bookkeeping)."""
        return sum(getattr(self, k) for k in STAGES)

    def rtf(self) -> Dict[str, Optional[float]]:
        """The real-time factor (``total``, :func:`real_time_factor`) and each stage's share of it."""
        out = {k: real_time_factor(getattr(self, k), self.decoded_s) for k in STAGES}
        out["total"] = real_time_factor(self.wall_s, self.decoded_s)
        return out


@dataclass
class Plan:
    """Where one recording's inputs come from."""

    video: Optional[str]  # face video or lip clip
    audio: Optional[str]  # file whose first audio stream is used (may be the video itself)
    lip_video: bool
    use: Tuple[str, ...]  # modalities to feed when present
    fps: float = 0.0
    duration: float = 0.0
    audio_s: float = 0.0  # declared length of the audio stream used (0 without audio)
    video_s: float = 0.0  # declared length of the video stream used (0 without video)


def decoding_order(spans: Sequence[Tuple[float, float]], by_length: bool = True) -> List[int]:
    """Indices of ``spans`` (``(start, end)`` s) in the order they are batched: longest first (ties in time order)
    when ``by_length``, so consecutive batches hold segments of similar length; else time order."""
    if not by_length:
        return list(range(len(spans)))
    return sorted(range(len(spans)), key=lambda i: (-(spans[i][1] - spans[i][0]), spans[i][0]))


class Transcriber:
    """Long-form audio-visual transcription with a fine-tuned ``av_hubert_seq2seq`` checkpoint.

    >>> t = Transcriber.from_checkpoint("checkpoint_best.pt", SearchSettings(beam=5))
    >>> for seg in t.transcribe(video="meeting.mp4"):          # or audio=..., or both
    ...     print(seg.start, seg.end, seg.modalities, seg.text)

    ``video`` is a face video (the mouth is cropped on the fly, which needs the ``[roi]`` extra) unless
    ``lip_video=True`` says it is already a mouth clip; a mouth clip passed without it has no face to find, so it is
    decoded from its audio alone and a warning says so.
    """

    def __init__(
        self,
        recognizer: Recognizer,
        settings: Optional[TranscribeSettings] = None,
        vad: Optional[VadConfig] = None,
    ) -> None:
        self.recognizer = recognizer
        self.settings = (settings or TranscribeSettings()).check()
        c = recognizer.task.cfg
        self.model_modalities = recognizer.model_modalities
        max_frames = c.max_sample_size or DEFAULT_MAX_FRAMES
        self.vad = vad or VadConfig()
        self.vad.max_segment_s = min(self.vad.max_segment_s, max_frames / FPS)
        self.settings.window_s = min(self.settings.window_s, max_frames / FPS)
        self.stats = Stats()
        self._video_reach = StreamReach()
        self._t_start = 0.0

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        path: str,
        search: Optional[SearchSettings] = None,
        *,
        data_dir: Optional[str] = None,
        device: Optional[str] = None,
        vad: Optional[VadConfig] = None,
        **settings,
    ) -> "Transcriber":
        """Load a fine-tuned checkpoint (:meth:`Recognizer.from_checkpoint`: clear errors for a missing file or a
        pretraining checkpoint). ``search``: beam, weights, LM (:class:`SearchSettings`); ``data_dir``: a manifest
        folder with ``dict.wrd.txt`` for checkpoints that do not carry their dictionary; ``device``: ``cuda``/``cpu``
        (default: a GPU when there is one); other keywords are :class:`TranscribeSettings` fields."""
        recognizer = Recognizer.from_checkpoint(path, search, data_dir=data_dir, device=device)
        return cls(recognizer, TranscribeSettings(**settings), vad)

    # ---- planning -----------------------------------------------------------------------------
    def plan(
        self,
        video: Optional[str] = None,
        audio: Optional[str] = None,
        lip_video: bool = False,
        modalities: Optional[Sequence[str]] = None,
    ) -> Plan:
        """Check the inputs and decide which modalities can be used (errors name the file)."""
        if video is None and audio is None:
            raise TranscribeError("nothing to transcribe: give a video and/or an audio file")
        want = tuple(sorted(modalities)) if modalities else self.model_modalities
        missing = set(want) - set(self.model_modalities)
        if missing:
            raise TranscribeError(
                f"--modalities {','.join(want)}: the model was trained with {','.join(self.model_modalities)} only"
            )
        fps = duration = audio_s = video_s = 0.0
        if video is not None:
            vinfo = probe(video)
            duration = vinfo.duration
            if not vinfo.has_video:
                if audio is not None:
                    raise TranscribeError(f"{video}: has no video stream")
                video, audio = None, video  # an audio file passed as INPUT
            else:
                fps, video_s = vinfo.fps, vinfo.video_s
                if audio is None and vinfo.has_audio:
                    audio = video
        if audio is not None:
            ainfo = probe(audio)
            if not ainfo.has_audio:
                raise TranscribeError(f"{audio}: has no audio stream")
            duration, audio_s = max(duration, ainfo.duration), ainfo.audio_s
        use = tuple(m for m in want if (m == "audio" and audio) or (m == "video" and video))
        if not use:
            what = video or audio
            raise TranscribeError(
                f"{what}: none of the modalities {','.join(want)} is present "
                f"(audio: {'yes' if audio else 'no'}, video: {'yes' if video else 'no'})"
            )
        if "audio" in use:
            require_vad()
        if "video" in use and not lip_video:
            from avhubert_ami.transcribe.roi import require_face_detector

            require_face_detector(self.settings.landmark_backend)
        return Plan(
            video=video if "video" in use else None,
            audio=audio if "audio" in use else None,
            lip_video=lip_video,
            use=use,
            fps=fps,
            duration=max(audio_s if "audio" in use else 0.0, video_s if "video" in use else 0.0) or duration,
            audio_s=audio_s if "audio" in use else 0.0,
            video_s=video_s if "video" in use else 0.0,
        )

    # ---- transcription ------------------------------------------------------------------------
    def transcribe(
        self,
        video: Optional[str] = None,
        audio: Optional[str] = None,
        lip_video: bool = False,
        modalities: Optional[Sequence[str]] = None,
        notes: Optional[List[str]] = None,
        progress: bool = False,
    ) -> List[Segment]:
        """Segments (time order) of a recording.

        ``video``: a face video -- its mouth is cropped on the fly -- or, with ``lip_video=True``, a ready-made mouth
        clip (96x96 around the mouth, as the training data); a mouth clip passed as a face video has no face to find
        and is decoded from its audio alone, with a warning. ``audio``: a separate audio file (default: the video's
        own audio track); an audio file may also come alone. ``modalities`` restricts what is fed (default: what the
        model was trained with and the inputs have). Notes (resampling, silence, segments without a face, streams
        that end early) are appended to ``notes``; durations, seconds per stage and the real-time factor go to
        :attr:`stats`."""
        notes = notes if notes is not None else []
        self._t_start = time.perf_counter()
        plan = self.plan(video, audio, lip_video, modalities)
        self.stats = Stats(media_s=plan.duration)
        self._video_reach = StreamReach()
        try:
            segments = self._transcribe(plan, notes, progress)
        finally:
            self.stats.wall_s = time.perf_counter() - self._t_start
        return segments

    def _transcribe(self, plan: Plan, notes: List[str], progress: bool) -> List[Segment]:
        with tempfile.TemporaryDirectory(prefix="avhubert_transcribe_") as tmp:
            wav = None
            if plan.audio is not None:
                t0 = time.perf_counter()
                n = decode_audio_to_wav(plan.audio, os.path.join(tmp, "audio.wav"), notes)
                self.stats.audio_decode += time.perf_counter() - t0
                wav = Wav16k(os.path.join(tmp, "audio.wav"))
                self.stats.decoded_s = n / SAMPLE_RATE
                self._check_end("audio", plan.audio, self.stats.decoded_s, plan.audio_s, notes)
                if n == 0:
                    notes.append(f"{os.path.basename(plan.audio)}: the audio is empty: nothing to transcribe")
                    return []
                t0 = time.perf_counter()
                speech, energy = frame_activity(wav.blocks(), self.vad.aggressiveness)
                spans = speech_segments(speech, energy, self.vad)
                self.stats.vad += time.perf_counter() - t0
                if not spans:
                    notes.append(
                        f"{os.path.basename(plan.audio)}: no speech detected (silent recording?): empty transcript"
                    )
                    return []
                overlap_words = 0
            else:
                s = self.settings
                spans = fixed_windows(plan.duration, s.window_s, s.window_overlap_s)
                # words two windows share: at most what can be said in the overlap (~4 words/s)
                overlap_words = max(1, int(np.ceil(4 * s.window_overlap_s)))
            segments = self._decode_spans(plan, wav, spans, notes, progress)
        if plan.video is not None:
            self._video_coverage(plan, segments, notes)
        if plan.audio is None and not any("video" in seg.modalities for seg in segments):
            raise TranscribeError(
                f"{plan.video}: no audio stream and no face detected in any frame: nothing to "
                "transcribe (for ready-made mouth clips pass --lip_video)"
            )
        return stitch([seg for seg in segments if seg.modalities], overlap_words)

    def _check_end(self, stream: str, path: str, ends_s: float, declared_s: float, notes: List[str]) -> None:
        """Record and note a stream that ended more than :data:`ENDED_EARLY_S` before its declared length."""
        if declared_s - ends_s <= ENDED_EARLY_S:
            return
        self.stats.ended_early[stream] = {"ends_s": round(ends_s, 3), "declared_s": round(declared_s, 3)}
        notes.append(
            f"{os.path.basename(path)}: the {stream} stream ends at {ends_s:.2f} s of the {declared_s:.2f} s the "
            f"file declares (truncated or damaged?): transcribed up to {ends_s:.2f} s"
        )

    def _video_end(self) -> Optional[float]:
        """Where the video really ends, once a read ran past its last frame (None before)."""
        r = self._video_reach
        return r.last_end if r.ended else None

    def _video_coverage(self, plan: Plan, segments: Sequence[Segment], notes: List[str]) -> None:
        """After decoding: how far the video went (one note when it ended before its declared length or before the
        audio), and a warning when a face video showed no face anywhere."""
        end = self._video_end()
        if end is not None:
            self._check_end("video", plan.video, end, plan.video_s, notes)
        if plan.audio is None:
            self.stats.decoded_s = end if end is not None else (plan.video_s or plan.duration)
        elif end is not None and self.stats.decoded_s - end > ENDED_EARLY_S:
            after = sum(seg.start >= end - 1e-6 for seg in segments)
            notes.append(
                f"{os.path.basename(plan.video)}: the video ends at {end:.2f} s, the audio at "
                f"{self.stats.decoded_s:.2f} s: {after} segment(s) after {end:.2f} s decoded from audio alone"
            )
        before_end = [seg for seg in segments if end is None or seg.start < end - 1e-6]
        if plan.audio is not None and not plan.lip_video and before_end:
            if not any("video" in seg.modalities for seg in before_end):
                message = (
                    f"{os.path.basename(plan.video)}: no face found in any segment: decoded from its audio alone "
                    "(a ready-made mouth clip? pass --lip_video / lip_video=True)"
                )
                logger.warning("%s", message)
                notes.append(message)

    def _past_video_end(self, start: float) -> bool:
        end = self._video_end()
        return end is not None and start >= end - 1e-6

    def _segment_input(
        self, plan: Plan, wav: Optional[Wav16k], start: float, end: float
    ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], str, bool]:
        """``(wave, mouth frames (T, 96, 96), note, past the video's end)`` of one span; frames None when no face
        was found or the video has ended."""
        from avhubert_ami.transcribe.roi import face_mouth_crops, fit_frames, lip_clip_frames

        n = max(1, int(round((end - start) * FPS)))
        wave = wav.read(start, end) if wav is not None else None
        if plan.video is None:
            return wave, None, "", False
        frames = None
        if not self._past_video_end(start):  # past the real end of the video there is nothing to read
            t0 = time.perf_counter()
            reach = self._video_reach
            if plan.lip_video:
                frames = lip_clip_frames(plan.video, start, end, plan.fps, reach)
            else:
                s = self.settings
                frames = face_mouth_crops(
                    plan.video, start, end, plan.fps, s.landmark_backend, s.min_face_fraction, reach
                )
            self.stats.roi += time.perf_counter() - t0
        if frames is not None:
            return wave, fit_frames(frames, n), "", False
        past_end = self._past_video_end(start)
        missing = "after the end of the video" if past_end else "no video frames" if plan.lip_video else "no face found"
        return wave, None, f"{missing}: decoded without video" if wave is not None else f"{missing}: skipped", past_end

    def _features(self, wave: Optional[np.ndarray], frames: Optional[np.ndarray], n: int):
        """Model inputs of one segment with the checkpoint's input settings (as the dataset builds them)."""
        import torch

        from avhubert_ami.data.features import audio_features
        from avhubert_ami.data.video import crop_flip_normalize

        c = self.recognizer.task.cfg
        audio = video = None
        if wave is not None:
            audio = audio_features(wave, stack_order=c.stack_order_audio, n_frames=n, normalize=c.normalize)
        if frames is not None:
            video = torch.from_numpy(
                crop_flip_normalize(
                    frames,
                    c.image_crop_size,
                    train=False,
                    mean=c.image_mean,
                    std=c.image_std,
                    downsample=c.image_downsample,
                )
            )
        return audio, video

    def segment_item(self, plan: Plan, wav: Optional[Wav16k], start: float, end: float) -> dict:
        """Model input of ``[start, end)`` s: ``{start, end, n (25 fps frames), audio, video, note,
        past_video_end}``."""
        n = max(1, int(round((end - start) * FPS)))
        wave, frames, note, past_video_end = self._segment_input(plan, wav, start, end)
        t0 = time.perf_counter()
        audio, video = self._features(wave, frames, n)
        self.stats.features += time.perf_counter() - t0
        return dict(start=start, end=end, n=n, audio=audio, video=video, note=note, past_video_end=past_video_end)

    def _batches(self, plan: Plan, wav, spans, notes: List[tuple]) -> Iterator[List[dict]]:
        """Batches of segment items in :func:`decoding_order`; ``(start, note)`` of each segment's note is appended
        to ``notes``."""
        batch: List[dict] = []
        for i in decoding_order(spans, self.settings.sort_by_length):
            start, end = spans[i]
            item = self.segment_item(plan, wav, start, end)
            if item["note"] and not item["past_video_end"]:  # those get one note, from _video_coverage
                notes.append((start, f"{start:.2f}-{end:.2f}s: {item['note']}"))
            batch.append(item)
            if len(batch) >= self.recognizer.settings.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _decode_spans(self, plan: Plan, wav, spans, notes: List[str], progress: bool) -> List[Segment]:
        from tqdm import tqdm

        out: List[Segment] = []
        segment_notes: List[tuple] = []
        speech_s, done_s = max(sum(end - start for start, end in spans), 1e-9), 0.0
        bar = tqdm(
            total=len(spans),
            desc=f"transcribe {os.path.basename(plan.video or plan.audio)}",
            unit="seg",
            disable=not progress,
            leave=False,
        )
        for batch in self._batches(plan, wav, spans, segment_notes):
            has_input = [b["audio"] is not None or b["video"] is not None for b in batch]
            decodable = [b for b, ok in zip(batch, has_input) if ok]
            out += [Segment(b["start"], b["end"], "", [], 0.0, b["note"]) for b, ok in zip(batch, has_input) if not ok]
            if decodable:
                t0 = time.perf_counter()
                out += self.decode_batch(decodable)
                self.stats.decode += time.perf_counter() - t0
            # the real-time factor so far: wall seconds since the start per second of the recording reached, the
            # part reached taken as the share of speech decoded (segments are batched longest first, not in time order)
            done_s += sum(b["end"] - b["start"] for b in batch)
            bar.update(len(batch))
            rtf = real_time_factor(time.perf_counter() - self._t_start, plan.duration * done_s / speech_s)
            bar.set_postfix(rtf=format_rtf(rtf), refresh=False)
        bar.close()
        notes += [note for _, note in sorted(segment_notes, key=lambda n: n[0])]  # in time order
        return out

    def decode_batch(self, items: Sequence[dict]) -> List[Segment]:
        """Beam-search a list of ``{start, end, n, audio (T, F) | None, video (T, H, W) | None, note}``."""
        import torch

        from avhubert_ami.data.dataset import _pad_stack

        size = max(it["n"] for it in items)
        lengths = torch.tensor([it["n"] for it in items])
        present = torch.tensor([[it["audio"] is not None, it["video"] is not None] for it in items])
        audio = video = None
        if bool(present[:, 0].any()):
            audio = _pad_stack([it["audio"] for it in items], size).transpose(1, 2)  # B x F x T
        if bool(present[:, 1].any()):
            video = _pad_stack([it["video"] for it in items], size).unsqueeze(1)  # B x 1 x T x H x W
        net_input = {
            "source": {"audio": audio, "video": video, "present": present},
            "padding_mask": torch.arange(size)[None, :] >= lengths[:, None],
        }
        sample = {
            "id": torch.arange(len(items)),
            "net_input": net_input,
            "utt_id": [f"{it['start']:.2f}-{it['end']:.2f}s" for it in items],
        }  # named in decoding errors
        out = []
        for it, hyp, p in zip(items, self.recognizer.decode(sample), present.tolist()):
            mods = [m for m, on in zip(MODALITIES, p) if on]
            out.append(Segment(it["start"], it["end"], hyp.text, mods, hyp.score, it["note"]))
        return out

    def settings_dict(self) -> Dict[str, object]:
        """The model, the search as used, the segmentation and VAD settings, for ``NAME.json``."""
        record = self.recognizer.record()
        model = {k: record.pop(k) for k in ("model", "model_modalities", "device")}
        return {
            **model,
            "decoding": {**record, **asdict(self.settings)},
            "vad": {"backend": "webrtcvad", **asdict(self.vad)},
        }
