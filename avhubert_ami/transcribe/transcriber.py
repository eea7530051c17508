"""``Transcriber``: a fine-tuned AV-HuBERT checkpoint applied to whole recordings.

Audio is decoded once to a 16 kHz mono wav in a temporary folder (streamed), segmented by voice activity
(:mod:`avhubert_ami.transcribe.vad`); a video without audio is cut into overlapping fixed windows. Each segment
gets the model input of the training data -- ``avhubert_ami.data.features`` for audio, the mouth ROI of
``avhubert_ami.prep.mouth_roi`` and ``avhubert_ami.data.video.crop_flip_normalize`` for video, with the checkpoint's own
input settings -- and segments are decoded in batches with the task's beam search, then stitched in time order.
Only one batch of segments is in memory at a time.
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
from avhubert_ami.transcribe.media import Wav16k, decode_audio_to_wav, probe
from avhubert_ami.transcribe.segments import Segment, stitch
from avhubert_ami.transcribe.vad import VadConfig, fixed_windows, frame_activity, speech_segments

logger = logging.getLogger(__name__)

DEFAULT_MAX_FRAMES = 500  # upstream AV-HuBERT's max_sample_size when a checkpoint sets none


class TranscribeError(Exception):
    """A checkpoint or an input that cannot be transcribed (the message names it and says why)."""


@dataclass
class DecodeSettings:
    """How segments are decoded (written into every ``NAME.json``)."""

    beam: int = 5
    max_len_a: float = 1.0
    max_len_b: int = 10
    batch_size: int = 8
    ctc_weight: Optional[float] = None  # joint CTC/attention weight (task.ctc_weight); None = the checkpoint's
    lm_path: Optional[str] = None
    lm_weight: float = 0.0
    window_s: float = 10.0  # video without audio: window length ...
    window_overlap_s: float = 1.0  # ... and overlap
    min_face_fraction: float = 0.5  # a segment with faces in fewer frames is decoded without video
    landmark_backend: str = "auto"


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


class Transcriber:
    """Long-form audio-visual transcription with a fine-tuned ``av_hubert_seq2seq`` checkpoint.

    >>> t = Transcriber.from_checkpoint("checkpoint_best.pt", beam=5)
    >>> for seg in t.transcribe(video="meeting.mp4"):          # or audio=..., or both
    ...     print(seg.start, seg.end, seg.modalities, seg.text)
    """

    def __init__(
        self,
        models,
        task,
        checkpoint: str,
        settings: DecodeSettings,
        device: str,
        vad: Optional[VadConfig] = None,
        lm=None,
    ) -> None:
        self.models, self.task, self.checkpoint, self.settings, self.device = models, task, checkpoint, settings, device
        self.lm = lm  # shallow-fusion language model (avhubert_ami.tasks.language_model.load_lm) or None
        c = task.cfg
        self.model_modalities = tuple(sorted(c.modalities))
        max_frames = c.max_sample_size or DEFAULT_MAX_FRAMES
        self.vad = vad or VadConfig()
        self.vad.max_segment_s = min(self.vad.max_segment_s, max_frames / FPS)
        self.settings.window_s = min(settings.window_s, max_frames / FPS)
        self.generator = self._build_generator()
        self.stats = Stats()

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        path: str,
        *,
        ctc_weight: Optional[float] = None,
        lm_path: Optional[str] = None,
        lm_weight: float = 0.0,
        data_dir: Optional[str] = None,
        device: Optional[str] = None,
        vad: Optional[VadConfig] = None,
        **settings,
    ) -> "Transcriber":
        """Load a fine-tuned checkpoint (clear error for a pretraining one). ``data_dir``: a manifest folder with
        ``dict.wrd.txt`` for checkpoints that do not carry their dictionary; ``device``: ``cuda``/``cpu``
        (default: a GPU when there is one); other keywords are :class:`DecodeSettings` fields (``beam``,
        ``batch_size``, ``max_len_a``, ``max_len_b``, ...)."""
        import torch
        from fairseq import checkpoint_utils

        import avhubert_ami  # noqa: F401  (registers task/models; safe checkpoint loading)
        from avhubert_ami.cli.checkpoints import inspect_checkpoint
        from avhubert_ami.cli.trainer_args import UsageError

        if not os.path.isfile(path):
            raise TranscribeError(f"--path {path}: no such checkpoint file")
        try:
            info = inspect_checkpoint(path)
        except UsageError as err:
            raise TranscribeError(str(err).replace("--model_name_or_path", "--path")) from err
        if info.kind != "seq2seq":
            raise TranscribeError(
                f"--path {path}: this is a pretraining checkpoint (model av_hubert, no decoder), not a fine-tuned "
                "one: it cannot transcribe. Fine-tune it first (finetune_avhubert_ami.py --model_name_or_path "
                f"{path} ...) and pass the resulting checkpoint_best.pt"
            )
        # the checkpoint's task config carries training-time noise augmentation: decode the audio as it is
        overrides: Dict[str, object] = {"noise_prob": 0.0, "noise_wav": None}
        if data_dir:
            data_dir = os.path.abspath(data_dir)
            overrides.update(data=data_dir, label_dir=data_dir, tokenizer_bpe_model=os.path.join(data_dir, "spm.model"))
        try:
            models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([path], arg_overrides=overrides)
        except FileNotFoundError as err:
            raise TranscribeError(
                f"--path {path}: {err} (pass --data DIR, the manifest folder of its dict.wrd.txt)"
            ) from err
        if ctc_weight is not None:
            # set after loading (as avhubert-decode does): a checkpoint saved before ctc_weight existed has no such
            # key for arg_overrides to replace
            task.cfg.ctc_weight = float(ctc_weight)
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        for m in models:
            m.eval()
            m.to(dev)
        lm = None
        if lm_path is not None and lm_weight != 0:  # weight 0: decode exactly as without an LM
            from avhubert_ami.tasks.language_model import load_lm

            try:
                lm = load_lm(lm_path, task.target_dictionary, task.get_label_dir(), torch.device(dev))
            except (FileNotFoundError, ValueError) as err:
                raise TranscribeError(f"--lm_path {lm_path}: {err}") from err
        s = DecodeSettings(ctc_weight=ctc_weight, lm_path=lm_path, lm_weight=lm_weight, **settings)
        try:
            return cls(models, task, os.path.abspath(path), s, dev, vad, lm)
        except ValueError as err:  # e.g. --ctc_weight with a model that has no CTC head
            raise TranscribeError(f"--path {path}: {err}") from err

    def _build_generator(self):
        from fairseq.dataclass.configs import GenerationConfig

        s = self.settings
        extra = {"lm_model": self.lm, "lm_weight": s.lm_weight} if self.lm is not None else None
        generator = self.task.build_generator(
            self.models,
            GenerationConfig(beam=s.beam, max_len_a=s.max_len_a, max_len_b=s.max_len_b),
            extra_gen_cls_kwargs=extra,
        )
        generator.context = f"checkpoint {self.checkpoint}"  # named in the generator's errors
        return generator

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

        c = self.task.cfg
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

    def _batches(self, plan: Plan, wav, spans, notes: List[str], progress: bool) -> Iterator[List[dict]]:
        from tqdm import tqdm

        batch: List[dict] = []
        bar = tqdm(
            spans,
            desc=f"transcribe {os.path.basename(plan.video or plan.audio)}",
            unit="seg",
            disable=not progress,
            leave=False,
        )
        for start, end in bar:
            item = self.segment_item(plan, wav, start, end)
            if item["note"]:
                notes.append(f"{start:.2f}-{end:.2f}s: {item['note']}")
            batch.append(item)
            if len(batch) >= self.settings.batch_size:
                yield batch
                batch = []
            # real-time factor so far: seconds spent per second of the recording reached
            bar.set_postfix(rtf=f"{self.stats.processing_s() / max(end, 1e-9):.3f}", refresh=False)
        if batch:
            yield batch

    def _decode_spans(self, plan: Plan, wav, spans, notes: List[str], progress: bool) -> List[Segment]:
        out: List[Segment] = []
        for batch in self._batches(plan, wav, spans, notes, progress):
            has_input = [b["audio"] is not None or b["video"] is not None for b in batch]
            decodable = [b for b, ok in zip(batch, has_input) if ok]
            out += [Segment(b["start"], b["end"], "", [], 0.0, b["note"]) for b, ok in zip(batch, has_input) if not ok]
            if decodable:
                t0 = time.perf_counter()
                out += self.decode_batch(decodable)
                self.stats.decode += time.perf_counter() - t0
        return out

    def decode_batch(self, items: Sequence[dict]) -> List[Segment]:
        """Beam-search a list of ``{start, end, n, audio (T, F) | None, video (T, H, W) | None, note}``."""
        import torch
        from fairseq import utils

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
        if self.device != "cpu":
            sample = utils.move_to_cuda(sample, device=torch.device(self.device))
        with torch.no_grad():
            hypos = self.task.inference_step(self.generator, self.models, sample)
        d = self.task.target_dictionary
        ignore = {d.eos(), d.pad(), d.bos()}
        out = []
        for it, h, p in zip(items, hypos, present.tolist()):
            best = h[0]
            text = d.string(best["tokens"].int().cpu(), "sentencepiece", extra_symbols_to_ignore=ignore)
            mods = [m for m, on in zip(MODALITIES, p) if on]
            out.append(Segment(it["start"], it["end"], text, mods, float(best["score"]), it["note"]))
        return out

    def settings_dict(self) -> Dict[str, object]:
        """Decoding settings, VAD settings and the model, for ``NAME.json``."""
        return {
            "model": self.checkpoint,
            "model_modalities": list(self.model_modalities),
            "device": self.device,
            "decoding": asdict(self.settings),
            "vad": {"backend": "webrtcvad", **asdict(self.vad)},
        }
