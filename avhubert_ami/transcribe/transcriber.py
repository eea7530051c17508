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
(``max_len_a * frames + max_len_b``) and so fits each segment more closely. Only one batch of segments is in memory at
a time.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from avhubert_ami.data.constants import FPS, MODALITIES, SAMPLE_RATE
from avhubert_ami.decoding.recognizer import Recognizer
from avhubert_ami.decoding.settings import SearchSettings
from avhubert_ami.errors import UsageError
from avhubert_ami.transcribe.media import Wav16k, decode_audio_to_wav, probe
from avhubert_ami.transcribe.segments import Segment, stitch
from avhubert_ami.transcribe.vad import VadConfig, fixed_windows, frame_activity, speech_segments

logger = logging.getLogger(__name__)

DEFAULT_MAX_FRAMES = 500  # upstream AV-HuBERT's max_sample_size when a checkpoint sets none


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


@dataclass
class Stats:
    """Seconds spent per stage and the input duration, for real-time factors."""

    media_s: float = 0.0
    audio_decode: float = 0.0
    vad: float = 0.0
    roi: float = 0.0
    features: float = 0.0
    decode: float = 0.0

    def processing_s(self) -> float:
        """Seconds spent in all stages."""
        return sum(v for k, v in asdict(self).items() if k != "media_s")

    def rtf(self) -> Dict[str, float]:
        """Real-time factor of each stage and in total (processing seconds per second of media)."""
        d = max(self.media_s, 1e-9)
        out = {k: round(v / d, 4) for k, v in asdict(self).items() if k != "media_s"}
        out["total"] = round(self.processing_s() / d, 4)
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

    ``video`` is a face video (the mouth is cropped on the fly) unless ``lip_video=True`` says it is already a
    mouth clip; a mouth clip passed without it has no face to find, so it is decoded from its audio alone (a
    warning says so).
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
        fps = duration = 0.0
        if video is not None:
            vinfo = probe(video)
            duration = vinfo.duration
            if not vinfo.has_video:
                if audio is not None:
                    raise TranscribeError(f"{video}: has no video stream")
                video, audio = None, video  # an audio file passed as INPUT
            else:
                fps = vinfo.fps
                if audio is None and vinfo.has_audio:
                    audio = video
        if audio is not None:
            ainfo = probe(audio)
            if not ainfo.has_audio:
                raise TranscribeError(f"{audio}: has no audio stream")
            duration = max(duration, ainfo.duration)
        use = tuple(m for m in want if (m == "audio" and audio) or (m == "video" and video))
        if not use:
            what = video or audio
            raise TranscribeError(
                f"{what}: none of the modalities {','.join(want)} is present "
                f"(audio: {'yes' if audio else 'no'}, video: {'yes' if video else 'no'})"
            )
        return Plan(
            video=video if "video" in use else None,
            audio=audio if "audio" in use else None,
            lip_video=lip_video,
            use=use,
            fps=fps,
            duration=duration,
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
        """Segments (time order) of a recording: ``video`` (a face video, or a mouth clip with ``lip_video``)
        and/or ``audio`` (a separate audio file; default: the video's own audio track). ``modalities``
        restricts what is fed (default: what the model was trained with and the inputs have). Notes (resampling,
        silence, segments without a face) are appended to ``notes``. Timing per stage goes to :attr:`stats`."""
        notes = notes if notes is not None else []
        plan = self.plan(video, audio, lip_video, modalities)
        self.stats = Stats(media_s=plan.duration)
        with tempfile.TemporaryDirectory(prefix="avhubert_transcribe_") as tmp:
            wav = None
            if plan.audio is not None:
                t0 = time.perf_counter()
                n = decode_audio_to_wav(plan.audio, os.path.join(tmp, "audio.wav"), notes)
                self.stats.audio_decode += time.perf_counter() - t0
                wav = Wav16k(os.path.join(tmp, "audio.wav"))
                self.stats.media_s = max(self.stats.media_s, n / SAMPLE_RATE)
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
        if plan.audio is None and not any("video" in seg.modalities for seg in segments):
            raise TranscribeError(
                f"{plan.video}: no audio stream and no face detected in any frame: nothing to "
                "transcribe (for ready-made mouth clips pass --lip_video)"
            )
        return stitch([seg for seg in segments if seg.modalities], overlap_words)

    def _segment_input(
        self, plan: Plan, wav: Optional[Wav16k], start: float, end: float
    ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], str]:
        """``(wave, mouth frames (T, 96, 96), note)`` of one span; frames None when no face was found."""
        from avhubert_ami.transcribe.roi import face_mouth_crops, fit_frames, lip_clip_frames

        n = max(1, int(round((end - start) * FPS)))
        wave = wav.read(start, end) if wav is not None else None
        frames, note = None, ""
        if plan.video is not None:
            t0 = time.perf_counter()
            if plan.lip_video:
                frames = lip_clip_frames(plan.video, start, end, plan.fps)
                missing = "no video frames"
            else:
                s = self.settings
                frames = face_mouth_crops(plan.video, start, end, plan.fps, s.landmark_backend, s.min_face_fraction)
                missing = "no face found"
            if frames is None:
                note = f"{missing}: decoded without video" if wave is not None else f"{missing}: skipped"
            self.stats.roi += time.perf_counter() - t0
            if frames is not None:
                frames = fit_frames(frames, n)
        return wave, frames, note

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
        """Model input of ``[start, end)`` s: ``{start, end, n (25 fps frames), audio, video, note}``."""
        n = max(1, int(round((end - start) * FPS)))
        wave, frames, note = self._segment_input(plan, wav, start, end)
        t0 = time.perf_counter()
        audio, video = self._features(wave, frames, n)
        self.stats.features += time.perf_counter() - t0
        return dict(start=start, end=end, n=n, audio=audio, video=video, note=note)

    def _batches(self, plan: Plan, wav, spans, notes: List[tuple], progress: bool) -> Iterator[List[dict]]:
        """Batches of segment items in :func:`decoding_order`; ``(start, note)`` of each segment's note is appended
        to ``notes``."""
        from tqdm import tqdm

        batch: List[dict] = []
        order = decoding_order(spans, self.settings.sort_by_length)
        speech_s = max(sum(end - start for start, end in spans), 1e-9)
        done_s = 0.0
        bar = tqdm(
            total=len(spans),
            desc=f"transcribe {os.path.basename(plan.video or plan.audio)}",
            unit="seg",
            disable=not progress,
            leave=False,
        )
        for i in order:
            start, end = spans[i]
            item = self.segment_item(plan, wav, start, end)
            if item["note"]:
                notes.append((start, f"{start:.2f}-{end:.2f}s: {item['note']}"))
            batch.append(item)
            if len(batch) >= self.recognizer.settings.batch_size:
                yield batch
                batch = []
            # real-time factor so far: seconds spent per second of recording, the part done taken as the
            # share of segment time done (segments are not decoded in time order)
            done_s += end - start
            bar.update(1)
            rtf = self.stats.processing_s() / max(self.stats.media_s * done_s / speech_s, 1e-9)
            bar.set_postfix(rtf=f"{rtf:.3f}", refresh=False)
        bar.close()
        if batch:
            yield batch

    def _decode_spans(self, plan: Plan, wav, spans, notes: List[str], progress: bool) -> List[Segment]:
        out: List[Segment] = []
        segment_notes: List[tuple] = []
        for batch in self._batches(plan, wav, spans, segment_notes, progress):
            has_input = [b["audio"] is not None or b["video"] is not None for b in batch]
            decodable = [b for b, ok in zip(batch, has_input) if ok]
            out += [Segment(b["start"], b["end"], "", [], 0.0, b["note"]) for b, ok in zip(batch, has_input) if not ok]
            if decodable:
                t0 = time.perf_counter()
                out += self.decode_batch(decodable)
                self.stats.decode += time.perf_counter() - t0
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
