"""fairseq task ``ami_av`` (also registered as upstream's ``av_hubert_pretraining``).

Loads ``{data}/{split}.tsv`` + ``{label_dir}/{split}.wrd`` into :class:`AVHubertDataset`,
encodes transcripts with the sentencepiece model into the ``dict.wrd.txt`` dictionary,
builds a sequence generator that understands audio-visual dict sources, and (with
``eval_wer``) greedy-decodes validation batches to log ``wer`` / ``cer``.

``av_hubert_pretraining`` uses the same code with upstream's defaults and field names, so
official AV-HuBERT checkpoints (whose ``cfg.task._name`` is that) load; config keys this
plugin does not know are dropped with a warning instead of failing (:func:`drop_unknown_keys`, applied by
the ``setup_task`` filter of :mod:`avhubert_ami.compat`).
"""

import logging
import os
import sys
from argparse import Namespace
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from fairseq import metrics
from fairseq.data import Dictionary, encoders
from fairseq.dataclass import FairseqDataclass
from fairseq.tasks import register_task
from fairseq.tasks.fairseq_task import FairseqTask
from omegaconf import MISSING, DictConfig, open_dict

from avhubert_ami.data.constants import CROP_SIZE, IMAGE_MEAN, IMAGE_STD, MODALITIES, SAMPLE_RATE
from avhubert_ami.data.dataset import AVHubertDataset, DataOptions
from avhubert_ami.data.manifest import load_split, split_paths
from avhubert_ami.data.modality import config_list as as_list
from avhubert_ami.data.noise import build_noise_mixer
from avhubert_ami.decoding.generator import AVSequenceGenerator
from avhubert_ami.scoring.text import check_normalizer
from avhubert_ami.scoring.wer import error_counts
from avhubert_ami.tasks.length_buckets import LengthBucketedDataset

logger = logging.getLogger(__name__)

WER_KEYS = ("_wer_errors", "_wer_words", "_cer_errors", "_cer_chars")


@dataclass
class AMIAVConfig(FairseqDataclass):
    """Task config: upstream AV-HuBERT's field names (all accepted) plus this plugin's extensions."""

    # ---- upstream AVHubertPretrainingConfig fields (fine-tuning defaults) ----
    data: str = field(default=MISSING, metadata={"help": "folder with {split}.tsv (and labels unless label_dir)"})
    # `Any` (list or "a,b" string) rather than List[str]: fairseq's argparse bridge cannot parse
    # List[str] fields with defaults, and hydra/checkpoint configs hold real lists.
    labels: Any = field(default_factory=lambda: ["wrd"], metadata={"help": "label file extension(s), e.g. wrd"})
    label_dir: Optional[str] = field(default=None, metadata={"help": "folder of {split}.{label} and dict.{label}.txt"})
    label_rate: int = field(default=-1, metadata={"help": "label frame rate; -1 = sequence labels"})
    sample_rate: int = field(default=25, metadata={"help": "frame rate of the model input (upstream name)"})
    normalize: bool = field(default=True, metadata={"help": "layer-norm audio features per frame (as pre-training)"})
    enable_padding: bool = field(default=False, metadata={"help": "upstream field, unused"})
    max_sample_size: Optional[int] = field(default=None, metadata={"help": "skip rows longer than this (frames)"})
    min_sample_size: Optional[int] = field(default=None, metadata={"help": "skip rows shorter than this (frames)"})
    # upstream's default is II("task.max_sample_size"), which cannot resolve in a standalone task
    # config (checkpoints, w2v_args); None means the same thing here.
    max_trim_sample_size: Optional[int] = field(
        default=None, metadata={"help": "cut batches to this many frames (default: max_sample_size)"}
    )
    single_target: Optional[bool] = field(default=True, metadata={"help": "upstream field (sequence labels)"})
    random_crop: Optional[bool] = field(default=False, metadata={"help": "upstream field, unused (crop from start)"})
    pad_audio: Optional[bool] = field(default=True, metadata={"help": "pad to the longest in the batch (else crop)"})
    pdb: Optional[bool] = field(default=False, metadata={"help": "upstream field, unused"})
    stack_order_audio: int = field(default=4, metadata={"help": "filterbank frames stacked per 25 Hz step"})
    skip_verify: Optional[bool] = field(default=False, metadata={"help": "upstream field, unused"})
    image_aug: bool = field(default=True, metadata={"help": "random crop + flip on the train split"})
    image_crop_size: int = field(default=CROP_SIZE, metadata={"help": "mouth ROI crop size"})
    image_downsample: int = field(
        default=1,
        metadata={
            "help": "average-pool the crop by this factor before the model (our extension for CPU presets; "
            "1 = upstream's input)"
        },
    )
    image_mean: float = field(default=IMAGE_MEAN, metadata={"help": "pixel mean (after /255)"})
    image_std: float = field(default=IMAGE_STD, metadata={"help": "pixel std (after /255)"})
    modalities: Any = field(
        default_factory=lambda: list(MODALITIES),
        metadata={"help": "modalities to load: audio, video or audio,video (a list in yaml)"},
    )
    is_s2s: bool = field(default=True, metadata={"help": "sequence-to-sequence labels (prev_output_tokens)"})
    tokenizer_bpe_name: Optional[str] = field(default="sentencepiece", metadata={"help": "fairseq bpe name"})
    tokenizer_bpe_model: Optional[str] = field(
        default=None, metadata={"help": "sentencepiece model; default {label_dir or data}/spm.model"}
    )
    noise_wav: Optional[str] = field(
        default=None, metadata={"help": "noise list file, or folder with {split}.tsv (one wav per line)"}
    )
    noise_prob: float = field(default=0.0, metadata={"help": "probability of mixing noise into an utterance"})
    noise_snr: Optional[str] = field(default="0", metadata={"help": "SNR in dB: '0' or a range 'lo,hi'"})
    noise_num: int = field(default=1, metadata={"help": "noise files averaged per mixture"})
    fine_tuning: bool = field(default=True, metadata={"help": "sequence-label fine-tuning (only mode supported)"})
    # ---- extensions ----
    max_av_len_diff: int = field(default=12, metadata={"help": "audio/video length tolerance (frames)"})
    audio_drop_prob: float = field(default=0.0, metadata={"help": "train: per-sample probability to drop audio"})
    visual_drop_prob: float = field(default=0.0, metadata={"help": "train: per-sample probability to drop video"})
    resample_video_fps: bool = field(default=False, metadata={"help": "resample non-25 fps videos instead of failing"})
    resample_audio: bool = field(default=False, metadata={"help": "resample non-16 kHz audio instead of failing"})
    mono_audio: bool = field(default=False, metadata={"help": "average multi-channel audio instead of failing"})
    label_lowercase: bool = field(default=False, metadata={"help": "lower-case transcripts before sentencepiece"})
    # Interfering speech (off by default, so upstream configs and older checkpoints behave as before): upstream's
    # noisy fine-tuning mixes speech in as one noise category; this draws it from the training split itself.
    interference_prob: float = field(
        default=0.0,
        metadata={
            "help": "train split: probability of mixing the audio of another training utterance (another speaker "
            "when AMI ids tell) into an utterance, its video unchanged; applied before noise_prob's noise"
        },
    )
    interference_snr: str = field(
        default="0,10",
        metadata={"help": "dB of the target over the interfering utterance: 'x' or a range 'lo,hi' (uniform)"},
    )
    data_seed: int = field(default=1, metadata={"help": "seed of per-(epoch, utterance) augmentation draws"})
    # resume = uninterrupted run (docs/failure-behaviour.md): fairseq reads these two from the task cfg
    rebuild_batches: bool = field(
        default=True,
        metadata={
            "help": "form the batches anew each epoch (seeded by seed + epoch); fairseq's default (false) "
            "keeps those of the epoch the process started in, so a resumed run batched differently"
        },
    )
    persistent_workers: bool = field(
        default=False,
        metadata={
            "help": "keep data-loader workers across epochs; they then keep the epoch they started with, "
            "which seeds the augmentation draws (so false: workers restart with the current epoch)"
        },
    )
    # batching of the train split (issue 23; off = fairseq's: sorted by length, then cut into batches)
    length_buckets: int = field(
        default=0,
        metadata={
            "help": "train split: group the utterances into this many length ranges (geometric bounds) and batch "
            "each range on its own, reshuffled every epoch (avhubert_ami.tasks.length_buckets); 0 = fairseq's batching"
        },
    )
    pad_to_bucket: bool = field(
        default=False,
        metadata={
            "help": "with length_buckets: pad every training batch to its range's upper bound (targets to a multiple "
            "of 8 tokens), so training sees few batch shapes (for model.cudnn_benchmark and model.compile_layers)"
        },
    )
    eval_wer: bool = field(default=False, metadata={"help": "decode valid batches and log wer/cer"})
    eval_wer_beam: int = field(default=1, metadata={"help": "beam size of the validation decode"})
    eval_wer_max_len_a: float = field(default=1.0, metadata={"help": "validation decode: max_len = a * frames + b"})
    eval_wer_max_len_b: int = field(default=0, metadata={"help": "validation decode: max_len = a * frames + b"})
    eval_wer_print_samples: bool = field(default=False, metadata={"help": "log one hypothesis/reference per batch"})
    ctc_weight: float = field(
        default=0.0,
        metadata={
            "help": "decoding (fairseq-generate, validation WER): joint CTC/attention beam search, score = "
            "(1-w)*attention + w*CTC prefix score; needs a model with a CTC head; 0 = attention only"
        },
    )
    eval_wer_normalizer: str = field(
        default="basic",
        metadata={
            "help": "text normaliser of the validation wer/cer: basic, kaldi or whisper (avhubert_ami.scoring.text)"
        },
    )


@dataclass
class AVHubertPretrainingConfig(AMIAVConfig):
    """Upstream defaults, for configs saved by upstream AV-HuBERT under ``av_hubert_pretraining``."""

    labels: Any = field(default_factory=lambda: ["ltr"])
    sample_rate: int = SAMPLE_RATE
    normalize: bool = False
    single_target: Optional[bool] = False
    random_crop: Optional[bool] = True
    pad_audio: Optional[bool] = False
    stack_order_audio: int = 1
    image_aug: bool = False
    is_s2s: bool = False
    tokenizer_bpe_name: Optional[str] = None
    fine_tuning: bool = False


def drop_unknown_keys(cfg: Any, dataclass_type: type) -> Any:
    """Remove (with a warning) task config keys that ``dataclass_type`` does not define."""
    known = {f.name for f in fields(dataclass_type)}
    if isinstance(cfg, Namespace):
        return cfg
    if isinstance(cfg, DictConfig):
        extra = [k for k in cfg.keys() if k not in known]
        if extra:
            logger.warning("task %s: ignoring unknown config keys %s", cfg.get("_name"), sorted(extra))
            with open_dict(cfg):
                for k in extra:
                    del cfg[k]
    return cfg


class _SpmLabelEncoder:
    """Raw transcript -> space-separated pieces (fairseq bpe ``encode``), optionally lower-cased."""

    def __init__(self, bpe, lowercase: bool) -> None:
        self.bpe, self.lowercase = bpe, lowercase

    def __call__(self, text: str) -> str:
        return self.bpe.encode(text.lower() if self.lowercase else text)


@register_task("ami_av", dataclass=AMIAVConfig)
class AMIAVTask(FairseqTask):
    """Audio-visual speech recognition fine-tuning/decoding on AMI-style manifests."""

    cfg: AMIAVConfig

    def __init__(self, cfg: AMIAVConfig) -> None:
        super().__init__(cfg)
        self.fine_tuning = cfg.fine_tuning
        if cfg.fine_tuning:
            self.state.add_factory("target_dictionary", self.load_dictionaries)
        else:
            self.state.add_factory("dictionaries", self.load_dictionaries)
        self._bpe = None
        self.blank_symbol = "<s>"
        check_normalizer(getattr(cfg, "eval_wer_normalizer", "basic"))  # fail at start, not at the first validation

    @classmethod
    def setup_task(cls, cfg: AMIAVConfig, **kwargs) -> "AMIAVTask":
        return cls(cfg)

    # ---- dictionaries and tokenizer -------------------------------------------------------
    def get_label_dir(self) -> str:
        return self.cfg.label_dir or self.cfg.data

    def load_dictionaries(self):
        """``{label_dir}/dict.{label}.txt`` for each label (one Dictionary when fine-tuning)."""
        dicts = []
        for label in as_list(self.cfg.labels):
            path = os.path.join(self.get_label_dir(), f"dict.{label}.txt")
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{path}: dictionary not found (run `avhubert-tokenizer --manifest_dir "
                    f"{self.get_label_dir()}` or set task.label_dir)"
                )
            dicts.append(Dictionary.load(path))
        if self.cfg.fine_tuning and len(dicts) != 1:
            raise ValueError(f"fine-tuning takes exactly one label type, got task.labels={as_list(self.cfg.labels)}")
        return dicts[0] if self.cfg.fine_tuning else dicts

    @property
    def source_dictionary(self) -> Optional[Dictionary]:
        return None

    @property
    def target_dictionary(self) -> Optional[Dictionary]:
        return self.state.target_dictionary if self.fine_tuning else None

    @property
    def dictionaries(self) -> List[Dictionary]:
        return [self.state.target_dictionary] if self.fine_tuning else self.state.dictionaries

    def tokenizer_model_path(self) -> str:
        return self.cfg.tokenizer_bpe_model or os.path.join(self.get_label_dir(), "spm.model")

    @property
    def s2s_tokenizer(self):
        """The fairseq bpe (sentencepiece) that maps transcripts to dictionary pieces and back."""
        if self._bpe is None and self.cfg.tokenizer_bpe_name:
            path = self.tokenizer_model_path()
            if self.cfg.tokenizer_bpe_name == "sentencepiece" and not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{path}: sentencepiece model not found (set task.tokenizer_bpe_model, or run `avhubert-tokenizer`)"
                )
            name = self.cfg.tokenizer_bpe_name
            self._bpe = encoders.build_bpe(Namespace(bpe=name, **{f"{name}_model": path}))
        return self._bpe

    def decode_tokens(self, tokens: torch.Tensor) -> str:
        """Dictionary ids -> text (pieces joined and de-tokenised), specials dropped."""
        d = self.target_dictionary
        text = d.string(tokens.int().cpu(), extra_symbols_to_ignore={d.pad(), d.bos(), d.eos()})
        return self.s2s_tokenizer.decode(text) if self.s2s_tokenizer is not None else text

    # ---- data -------------------------------------------------------------------------------
    #: Task config fields that are :class:`DataOptions` fields of the same name and meaning, on every split.
    DATA_OPTIONS_AS_IS = ("image_crop_size", "image_downsample", "image_mean", "image_std", "normalize")
    DATA_OPTIONS_AS_IS += ("stack_order_audio", "max_sample_size", "min_sample_size", "max_av_len_diff")
    DATA_OPTIONS_AS_IS += ("resample_video_fps", "resample_audio", "mono_audio")

    def data_options(self, split: str) -> DataOptions:
        """Dataset options for ``split`` (augmentation and modality drop only on train splits)."""
        c = self.cfg
        train = split.startswith("train")
        same = {name: getattr(c, name) for name in self.DATA_OPTIONS_AS_IS}
        return DataOptions(
            modalities=as_list(c.modalities) or list(MODALITIES),
            train=train,
            image_aug=bool(c.image_aug) and train,
            pad_audio=bool(c.pad_audio),
            max_trim_sample_size=c.max_trim_sample_size if c.max_trim_sample_size is not None else c.max_sample_size,
            audio_drop_prob=c.audio_drop_prob if train else 0.0,
            visual_drop_prob=c.visual_drop_prob if train else 0.0,
            interference_prob=c.interference_prob if train else 0.0,
            interference_snr=c.interference_snr,
            shuffle=True,
            seed=c.data_seed,
            **same,
        )

    #: Input-transform settings a model was trained with: when a checkpoint's task config is at hand (fairseq-generate
    #: passes it as ``task_cfg``), these follow the checkpoint, so decoding feeds the model what it was trained on.
    #: Data location, modalities and noise stay as given on the command line.
    MODEL_INPUT_KEYS = (
        "normalize",
        "stack_order_audio",
        "image_crop_size",
        "image_downsample",
        "image_mean",
        "image_std",
    )

    def adopt_model_input_settings(self, task_cfg: Any) -> None:
        """Take :attr:`MODEL_INPUT_KEYS` from a checkpoint's task config (keys it lacks keep our values)."""
        for key in self.MODEL_INPUT_KEYS:
            value = task_cfg.get(key, None) if hasattr(task_cfg, "get") else getattr(task_cfg, key, None)
            if value is not None and value != getattr(self.cfg, key):
                logger.info("task.%s = %r from the checkpoint (was %r)", key, value, getattr(self.cfg, key))
                setattr(self.cfg, key, value)

    def warn_untrained_modalities(self, task_cfg: Any) -> List[str]:
        """Warn when ``task.modalities`` asks for a modality the checkpoint's model never trained on (its
        ``task_cfg.modalities``): that front-end is untrained, so the scores mean nothing. Returns those modalities."""
        trained = as_list(
            task_cfg.get("modalities", None) if hasattr(task_cfg, "get") else getattr(task_cfg, "modalities", None)
        )
        untrained = [m for m in as_list(self.cfg.modalities) if trained and m not in trained]
        if untrained:
            logger.warning(
                "decoding with %s, which the model never trained on (the checkpoint's task.modalities=%s): its %s "
                "front-end is untrained and the scores are meaningless; decode with --modalities %s",
                "+".join(untrained),
                ",".join(trained),
                "/".join(untrained),
                ",".join(trained),
            )
        return untrained

    def load_dataset(self, split: str, combine: bool = False, epoch: int = 1, task_cfg: Any = None, **kwargs) -> None:
        if task_cfg is not None:
            self.adopt_model_input_settings(task_cfg)
            self.warn_untrained_modalities(task_cfg)
        if not self.cfg.fine_tuning:
            raise NotImplementedError(
                "pre-training with frame-level cluster labels is not supported by this plugin; "
                "set task.fine_tuning=true (sequence labels)"
            )
        dictionary = self.target_dictionary  # loads dict.{label}.txt; checks there is exactly one label
        label = as_list(self.cfg.labels)[0]
        manifest, transcripts = load_split(self.cfg.data, split, self.cfg.label_dir, label)
        bpe = self.s2s_tokenizer if self.cfg.is_s2s else None
        encode = _SpmLabelEncoder(bpe, self.cfg.label_lowercase) if bpe is not None else None
        noise = build_noise_mixer(
            self.cfg.noise_wav, split, self.cfg.noise_prob, self.cfg.noise_snr, self.cfg.noise_num
        )
        dataset = AVHubertDataset(
            manifest,
            transcripts,
            dictionary,
            encode,
            self.data_options(split),
            noise=noise,
            label_path=split_paths(self.cfg.data, split, self.cfg.label_dir, label)[1],
        )
        self.datasets[split] = self.batched(dataset, split)

    def batched(self, dataset: AVHubertDataset, split: str):
        """``dataset`` as batched for ``split``: length-bucketed on train splits when ``length_buckets`` > 0."""
        buckets, pad = int(getattr(self.cfg, "length_buckets", 0) or 0), bool(getattr(self.cfg, "pad_to_bucket", False))
        if buckets < 0:
            raise ValueError(f"task.length_buckets must be >= 0 (0 = fairseq's batching), got {buckets}")
        if pad and not buckets:
            raise ValueError("task.pad_to_bucket needs task.length_buckets > 0 (the ranges whose bounds it pads to)")
        if not buckets or not split.startswith("train"):
            return dataset
        wrapped = LengthBucketedDataset(dataset, buckets, pad_to_bucket=pad, pad_idx=dataset.dictionary.pad())
        logger.info(
            "%s: %d length buckets, upper bounds %s frames%s",
            split,
            len(wrapped.bounds),
            wrapped.bounds.tolist(),
            " (batches padded to them)" if pad else "",
        )
        return wrapped

    def get_batch_iterator(
        self,
        dataset,
        max_tokens=None,
        max_sentences=None,
        max_positions=None,
        ignore_invalid_inputs=False,
        required_batch_size_multiple=1,
        *args,
        **kwargs,
    ):
        """fairseq's iterator, except that evaluation splits keep every utterance.

        fairseq's ``batch_by_size`` drops the last batch when its size is not a multiple of
        ``required_batch_size_multiple`` (fairseq-generate/validate default 8): fairseq-generate scored 8 of 10
        utterances, and crashed (ZeroDivisionError) on 4. Evaluation splits are therefore batched with a multiple
        of 1 (fairseq-generate, fairseq-validate, avhubert-decode, validation during training); the train split
        keeps the flag's behaviour.
        """
        if required_batch_size_multiple > 1 and not getattr(getattr(dataset, "opts", None), "train", True):
            logger.info(
                "evaluation split: required_batch_size_multiple=%d ignored (it would drop the last partial "
                "batch); every utterance is decoded",
                required_batch_size_multiple,
            )
            required_batch_size_multiple = 1
        return super().get_batch_iterator(
            dataset,
            max_tokens,
            max_sentences,
            max_positions,
            ignore_invalid_inputs,
            required_batch_size_multiple,
            *args,
            **kwargs,
        )

    def max_positions(self) -> Tuple[int, int]:
        return (sys.maxsize, sys.maxsize)

    def filter_indices_by_size(self, indices: np.ndarray, *args, **kwargs) -> np.ndarray:
        """Rows are already filtered by min/max_sample_size when the dataset loads."""
        return indices

    # ---- generation and validation WER ------------------------------------------------------
    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, prefix_allowed_tokens_fn=None):
        """fairseq's search strategies with :class:`AVSequenceGenerator` (dict sources)."""
        if getattr(args, "print_alignment", False):
            raise ValueError("--print-alignment is not supported for audio-visual sources")
        if seq_gen_cls is None and not getattr(args, "score_reference", False):
            seq_gen_cls = AVSequenceGenerator
        if seq_gen_cls is AVSequenceGenerator:
            extra_gen_cls_kwargs = {"ctc_weight": self.cfg.ctc_weight, **(extra_gen_cls_kwargs or {})}
        return super().build_generator(
            models,
            args,
            seq_gen_cls=seq_gen_cls,
            extra_gen_cls_kwargs=extra_gen_cls_kwargs,
            prefix_allowed_tokens_fn=prefix_allowed_tokens_fn,
        )

    def wer_counts(self, sample: Dict, model) -> Dict[str, int]:
        """Decode ``sample`` (beam ``eval_wer_beam``) and count word/char errors against its targets."""
        gen_args = Namespace(
            beam=self.cfg.eval_wer_beam,
            max_len_a=self.cfg.eval_wer_max_len_a,
            max_len_b=self.cfg.eval_wer_max_len_b,
            min_len=1,
        )
        generator = self.build_generator([model], gen_args)
        generator.context = "validation decode (task.eval_wer) of the model being trained"
        hyps = self.inference_step(generator, [model], sample)
        pad = self.target_dictionary.pad()
        counts = dict.fromkeys(WER_KEYS, 0)
        for i, hyp in enumerate(hyps):
            hyp_text = self.decode_tokens(hyp[0]["tokens"])
            target = sample["target"][i]
            ref_text = self.decode_tokens(target[target != pad])
            for (e_key, n_key), char_level in ((WER_KEYS[:2], False), (WER_KEYS[2:], True)):
                errors, length = error_counts(
                    hyp_text, ref_text, char_level=char_level, normalizer=self.cfg.eval_wer_normalizer
                )
                counts[e_key] += errors
                counts[n_key] += length
            if self.cfg.eval_wer_print_samples and i == 0:
                logger.info("valid sample | HYP: %s | REF: %s", hyp_text, ref_text)
        return counts

    def valid_step(self, sample, model, criterion):
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        if self.cfg.eval_wer:
            logging_output.update(self.wer_counts(sample, model))
        return loss, sample_size, logging_output

    def reduce_metrics(self, logging_outputs, criterion) -> None:
        super().reduce_metrics(logging_outputs, criterion)
        if not self.cfg.eval_wer:
            return
        totals = {k: sum(log.get(k, 0) for log in logging_outputs) for k in WER_KEYS}
        for k, v in totals.items():
            metrics.log_scalar(k, v)
        if totals["_wer_words"] > 0:
            metrics.log_derived("wer", _rate("_wer_errors", "_wer_words"))
        if totals["_cer_chars"] > 0:
            metrics.log_derived("cer", _rate("_cer_errors", "_cer_chars"))


def _rate(err_key: str, len_key: str):
    def derive(meters) -> float:
        total = meters[len_key].sum
        return round(100.0 * meters[err_key].sum / total, 3) if total > 0 else float("nan")

    return derive


@register_task("av_hubert_pretraining", dataclass=AVHubertPretrainingConfig)
class AVHubertPretrainingTask(AMIAVTask):
    """Upstream's task name, so official AV-HuBERT checkpoints (and their cfgs) load."""

    cfg: AVHubertPretrainingConfig
