"""``AVHubertDataset``: per-utterance audio/video loading, modality control and collation.

One item = one manifest row: its video decoded once and transformed on the whole array,
its audio turned into 104-dim features aligned to the video length, its transcript encoded
(sentencepiece pieces -> dictionary ids + eos). Randomness (crop, flip, modality drop,
noise) is drawn from ``np.random.default_rng((seed, epoch, index))``, so it is reproducible
and independent of DataLoader workers; interfering speech has a stream of its own
(``(seed, epoch, index, INTERFERENCE_STREAM)``), so turning it on leaves every other draw as it was.

Audio augmentation order: the wave, plus another utterance (interfering speech, train only), plus
noise (``noise_snr`` is then relative to the two voices together), then features.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from fairseq.data import data_utils
from fairseq.data.dictionary import Dictionary
from fairseq.data.fairseq_dataset import FairseqDataset
from tqdm import tqdm

from avhubert_ami.data.audio import read_audio
from avhubert_ami.data.constants import CROP_SIZE, IMAGE_MEAN, IMAGE_STD, MODALITIES, SAMPLES_PER_FRAME
from avhubert_ami.data.features import audio_features, fbank_path, finish_features, num_feature_frames
from avhubert_ami.data.manifest import Manifest
from avhubert_ami.data.modality import AUDIO, VIDEO, apply_modality_drop, check_drop_probs
from avhubert_ami.data.noise import NoiseMixer, SpeechInterference, check_interference
from avhubert_ami.data.utterance_ids import utterance_speaker
from avhubert_ami.data.video import conform_video, crop_flip_normalize, read_video_with_info
from avhubert_ami.errors import ManifestError, MediaError

logger = logging.getLogger(__name__)

#: Last entry of the interfering-speech seed: a draw stream apart from the item's other augmentation.
INTERFERENCE_STREAM = 1


@dataclass
class DataOptions:
    """Every knob of :class:`AVHubertDataset` (the task fills it from its config)."""

    modalities: Sequence[str] = MODALITIES
    train: bool = False  # enables image_aug and modality drop
    image_aug: bool = False
    image_crop_size: int = CROP_SIZE
    image_downsample: int = 1  # average-pool the crop by this factor (CPU presets; upstream: 1)
    image_mean: float = IMAGE_MEAN
    image_std: float = IMAGE_STD
    normalize: bool = True
    stack_order_audio: int = 4
    pad_audio: bool = True
    max_sample_size: Optional[int] = None  # rows longer than this (video frames) are skipped
    min_sample_size: Optional[int] = None  # rows shorter than this are skipped
    max_trim_sample_size: Optional[int] = None  # collated batches are cut to this length
    max_av_len_diff: int = 12  # audio/video length tolerance in frames (25 Hz)
    audio_drop_prob: float = 0.0
    visual_drop_prob: float = 0.0
    resample_video_fps: bool = False
    resample_audio: bool = False
    mono_audio: bool = False
    interference_prob: float = 0.0  # train: probability of mixing in another utterance's audio
    interference_snr: Any = "0,10"  # dB of the target over that utterance: "x" or a "lo,hi" range
    shuffle: bool = True
    seed: int = 1


class AVHubertDataset(FairseqDataset):
    """Audio-visual utterances of one split with sequence labels (seq2seq fine-tuning)."""

    def __init__(
        self,
        manifest: Manifest,
        transcripts: Sequence[str],
        dictionary: Dictionary,
        encode_label: Optional[Callable[[str], str]] = None,
        options: Optional[DataOptions] = None,
        noise: Optional[NoiseMixer] = None,
        label_path: str = "",
    ) -> None:
        opts = options or DataOptions()
        unknown = set(opts.modalities) - set(MODALITIES)
        if unknown or not opts.modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {list(opts.modalities)}")
        check_drop_probs(opts.audio_drop_prob, opts.visual_drop_prob)
        check_interference(opts.interference_prob, opts.interference_snr)
        if len(transcripts) != len(manifest):
            raise ManifestError(
                f"{label_path or 'labels'}: {len(transcripts)} transcripts but {manifest.path} has {len(manifest)} rows"
            )
        self.opts, self.manifest, self.dictionary, self.noise = opts, manifest, dictionary, noise
        self.use_audio, self.use_video = "audio" in opts.modalities, "video" in opts.modalities
        self.epoch = 1

        keep, sizes, labels = [], [], []
        n_short = n_long = n_no_modality = 0
        rows = tqdm(manifest.rows, desc=f"encoding labels of {manifest.path}", disable=len(manifest) < 20000)
        for i, row in enumerate(rows):
            has_audio, has_video = self.use_audio and row.audio is not None, self.use_video and row.video is not None
            if not (has_audio or has_video):
                n_no_modality += 1
                continue
            size = (
                row.n_video_frames
                if has_video
                else num_feature_frames(row.n_audio_samples, stack_order=opts.stack_order_audio)
            )
            if opts.min_sample_size is not None and size < opts.min_sample_size:
                n_short += 1
                continue
            if opts.max_sample_size is not None and size > opts.max_sample_size:
                n_long += 1
                continue
            keep.append(i)
            sizes.append(size)
            labels.append(self._encode(transcripts[i], encode_label, i, label_path))
        self.row_index = np.asarray(keep, dtype=np.int64)
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.labels = labels
        logger.info(
            "%s: loaded %d of %d rows (skipped %d shorter than min_sample_size=%s, %d longer than "
            "max_sample_size=%s, %d without any of the modalities %s)",
            manifest.path,
            len(keep),
            len(manifest),
            n_short,
            opts.min_sample_size,
            n_long,
            opts.max_sample_size,
            n_no_modality,
            list(opts.modalities),
        )
        if n_short or n_long or n_no_modality:
            logger.warning(
                "%s: skipped %d rows (%d short, %d long, %d without a usable modality)",
                manifest.path,
                n_short + n_long + n_no_modality,
                n_short,
                n_long,
                n_no_modality,
            )
        if not keep:
            raise ManifestError(f"{manifest.path}: no usable rows left after filtering (see the log for counts)")
        self.interference = self._interference()

    def _interference(self) -> Optional[SpeechInterference]:
        """The other utterances of this split as interfering speech (train only, when asked and possible)."""
        o = self.opts
        if not (o.train and o.interference_prob > 0 and self.use_audio):
            return None
        rows = [self.manifest.rows[i] for i in self.row_index]
        mixer = SpeechInterference(
            [r.audio for r in rows],
            [utterance_speaker(r.id) for r in rows],
            o.interference_prob,
            o.interference_snr,
            resample=o.resample_audio,
            mono=o.mono_audio,
        )
        if len(mixer) < 2:
            logger.warning(
                "%s: interference_prob=%s but fewer than 2 rows have audio: no interfering speech",
                self.manifest.path,
                o.interference_prob,
            )
            return None
        return mixer

    # ---- labels -------------------------------------------------------------------------
    def _encode(self, text: str, encode_label, row: int, label_path: str) -> torch.Tensor:
        pieces = encode_label(text) if encode_label is not None else text
        ids = self.dictionary.encode_line(pieces, append_eos=True, add_if_not_exist=False).long()
        # word-boundary-only pieces ("\u2581") carry no content: ignore them in the check
        content = [int(t) for t in ids[:-1] if self.dictionary[int(t)].strip("\u2581")]
        if all(t == self.dictionary.unk() for t in content):
            raise ManifestError(
                f"{label_path or 'labels'}:{row + 1} ({self.manifest.where(row)}): transcript {text!r} maps only to "
                "<unk> with this tokenizer/dictionary; fix the transcript or retrain the tokenizer on this text"
            )
        return ids

    # ---- FairseqDataset API ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.sizes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _eff_size(self, sizes):
        cap = self.opts.max_trim_sample_size
        return np.minimum(sizes, cap) if cap else sizes

    def size(self, index: int) -> int:
        return int(self._eff_size(self.sizes[index]))

    def num_tokens(self, index: int) -> int:
        return self.size(index)

    def num_tokens_vec(self, indices: np.ndarray) -> np.ndarray:
        return self._eff_size(self.sizes[indices])

    def ordered_indices(self) -> np.ndarray:
        """Longest first (upstream); ties in random order when ``shuffle``."""
        order = [np.random.permutation(len(self)) if self.opts.shuffle else np.arange(len(self)), self.sizes]
        return np.lexsort(order)[::-1]

    def where(self, index: int) -> str:
        """``tsv:line (id)`` of dataset item ``index``."""
        return self.manifest.where(int(self.row_index[index]))

    # ---- items ----------------------------------------------------------------------------
    def _presence(self, index: int, rng: np.random.Generator) -> List[bool]:
        row = self.manifest.rows[self.row_index[index]]
        present = torch.tensor([[self.use_audio and row.audio is not None, self.use_video and row.video is not None]])
        o = self.opts
        if o.train and (o.audio_drop_prob > 0 or o.visual_drop_prob > 0):
            gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
            present = apply_modality_drop(present, o.audio_drop_prob, o.visual_drop_prob, gen)
        return present[0].tolist()

    def _check_count(self, index: int, what: str, listed: int, path: str, found: Sequence[int], unit: str) -> None:
        """The tsv's count of a file must be what the file holds (``found``: the accepted values), or
        sizes, batching and length filters silently use a wrong length: name the tsv row."""
        if listed not in found:
            raise ManifestError(
                f"{self.where(index)}: {what}={listed} but {path} has {found[0]} {unit}; the tsv row is wrong "
                "(re-run the preparation command that wrote it, or correct the count)"
            )

    def _load_video(self, path: str, rng: np.random.Generator, index: Optional[int] = None) -> torch.Tensor:
        o = self.opts
        frames, info = read_video_with_info(path)
        n_file = len(frames)
        frames = conform_video(frames, info.fps, path, resample_fps=o.resample_video_fps)
        if index is not None:  # exact: upstream sizes batches by it and trims the audio to the video
            row = self.manifest.rows[self.row_index[index]]
            self._check_count(index, "n_video_frames", row.n_video_frames, path, (n_file, len(frames)), "frames")
        out = crop_flip_normalize(
            frames,
            o.image_crop_size,
            train=o.train and o.image_aug,
            rng=rng,
            mean=o.image_mean,
            std=o.image_std,
            downsample=o.image_downsample,
        )
        return torch.from_numpy(out)

    def _precomputed(self, path: str) -> Optional[np.ndarray]:
        """Stacked features written by ``hf_to_manifest --precompute_features``, when they can stand in for
        the wave: present, the default stacking, and no noise or speech to mix into the wave."""
        if self.noise is not None or self.interference is not None or self.opts.stack_order_audio != 4:
            return None
        npy = fbank_path(path)
        if not os.path.isfile(npy):
            return None
        try:
            feats = np.load(npy)
        except (OSError, ValueError) as err:
            raise MediaError(f"{npy}: unreadable precomputed features ({err}); delete it to use the wav") from err
        if feats.ndim != 2 or feats.shape[1] != 104:
            raise MediaError(f"{npy}: expected float32 (T, 104) features, got shape {feats.shape}; delete it")
        return feats

    def _check_audio_count(self, index: int, path: str, n_samples: int) -> None:
        """Audio sizes only audio-only rows (with a video it is trimmed/padded to the video, as upstream):
        accept a count within one video frame (640 samples) of the 16 kHz wave's."""
        listed = self.manifest.rows[self.row_index[index]].n_audio_samples
        if abs(listed - n_samples) >= SAMPLES_PER_FRAME:
            self._check_count(index, "n_audio_samples", listed, path, (n_samples,), "samples at 16 kHz")

    def _load_audio(
        self, path: str, n_frames: Optional[int], rng: np.random.Generator, index: Optional[int] = None
    ) -> torch.Tensor:
        o = self.opts
        feats = self._precomputed(path)
        if feats is None:
            wave = read_audio(path, resample=o.resample_audio, mono=o.mono_audio)
            if n_frames is None and index is not None and not o.resample_audio:  # audio-only: the count sizes the row
                self._check_audio_count(index, path, len(wave))
            if self.interference is not None and index is not None:
                stream = np.random.default_rng((o.seed, self.epoch, int(index), INTERFERENCE_STREAM))
                wave, _ = self.interference.maybe_mix(wave, int(index), stream)
            if self.noise is not None:
                wave = self.noise.maybe_mix(wave, rng)
            n_audio = num_feature_frames(len(wave), stack_order=o.stack_order_audio)
        else:
            n_audio = len(feats)
        if n_frames is not None:
            if abs(n_audio - n_frames) > o.max_av_len_diff:
                raise MediaError(
                    f"{path}: audio gives {n_audio} feature frames but the video has {n_frames} "
                    f"(|diff| > max_av_len_diff={o.max_av_len_diff}); the audio and video of this row are "
                    "not the same segment: re-cut them or fix the manifest"
                )
        if feats is not None:
            return finish_features(feats, n_frames=n_frames, normalize=o.normalize)
        return audio_features(wave, stack_order=o.stack_order_audio, n_frames=n_frames, normalize=o.normalize)

    def __getitem__(self, index: int) -> Dict:
        row = self.manifest.rows[self.row_index[index]]
        rng = np.random.default_rng((self.opts.seed, self.epoch, int(index)))
        want_audio, want_video = self._presence(index, rng)
        video = audio = None
        try:
            if want_video:
                video = self._load_video(row.video, rng, index)
            if want_audio:
                if video is not None:
                    n_frames = len(video)
                elif self.use_video and row.video is not None and row.n_video_frames > 0:
                    n_frames = row.n_video_frames  # video dropped: keep the utterance length it would have
                else:
                    n_frames = None
                audio = self._load_audio(row.audio, n_frames, rng, index)
        except MediaError as err:
            raise MediaError(f"{err} [manifest row {self.where(index)}]") from err
        length = len(video) if video is not None else len(audio)
        return {
            "id": index,
            "utt_id": row.id,
            "audio": audio,
            "video": video,
            "present": (audio is not None, video is not None),
            "length": length,
            "label": self.labels[index],
        }

    # ---- batching -------------------------------------------------------------------------
    def collater(self, samples: List[Dict]) -> Dict:
        """Pad (or crop) to one length T and build the batch of the plugin's contract."""
        samples = [s for s in samples if s is not None]
        if not samples:
            return {}
        lengths = torch.tensor([s["length"] for s in samples], dtype=torch.long)
        size = int(lengths.max() if self.opts.pad_audio else lengths.min())
        if self.opts.max_trim_sample_size:
            size = min(size, int(self.opts.max_trim_sample_size))
        lengths = lengths.clamp(max=size)
        bsz = len(samples)
        present = torch.tensor([s["present"] for s in samples], dtype=torch.bool).reshape(bsz, 2)

        audio = video = None
        if self.use_audio and bool(present[:, AUDIO].any()):
            audio = _pad_stack([s["audio"] for s in samples], size).transpose(1, 2)  # B x F x T (upstream)
        if self.use_video and bool(present[:, VIDEO].any()):
            video = _pad_stack([s["video"] for s in samples], size).unsqueeze(1)  # B x 1 x T x H x W
        padding_mask = torch.arange(size)[None, :] >= lengths[:, None]

        targets = [s["label"] for s in samples]
        pad, eos = self.dictionary.pad(), self.dictionary.eos()
        target = data_utils.collate_tokens(targets, pad_idx=pad, eos_idx=eos, left_pad=False)
        prev = data_utils.collate_tokens(targets, pad_idx=pad, eos_idx=eos, left_pad=False, move_eos_to_beginning=True)
        target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
        return {
            "id": torch.tensor([s["id"] for s in samples], dtype=torch.long),
            "utt_id": [s["utt_id"] for s in samples],
            "net_input": {
                "source": {"audio": audio, "video": video, "present": present},
                "padding_mask": padding_mask,
                "prev_output_tokens": prev,
            },
            "target": target,
            "target_lengths": target_lengths,
            "ntokens": int(target_lengths.sum()),
        }


def _pad_stack(items: List[Optional[torch.Tensor]], size: int) -> torch.Tensor:
    """Stack ``(T_i, ...)`` tensors into ``(B, size, ...)``: cut or zero-pad; ``None`` rows are zeros.

    Every element is written once, with numpy copies (no torch intra-op threads: they only
    add contention inside data-loading workers).
    """
    ref = next(x for x in items if x is not None)
    out = np.empty((len(items), size) + tuple(ref.shape[1:]), dtype=ref.numpy().dtype)
    for i, x in enumerate(items):
        n = 0 if x is None else min(len(x), size)
        if n:
            np.copyto(out[i, :n], x[:n].numpy())
        if n < size:
            out[i, n:] = 0
    return torch.from_numpy(out)
