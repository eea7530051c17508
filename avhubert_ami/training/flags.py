"""The users'-guide flags (HF Trainer names) and their ONE mapping onto fairseq hydra overrides.

Every flag is declared once in :data:`FLAGS`: its parser type, help, and the function that turns
its value into hydra overrides. A flag left out adds no override, so defaults always come from the
preset yaml (conf/finetune/*.yaml) and the fairseq/plugin config dataclasses, never from here.
Flags whose ``to_hydra`` is None are consumed by the driver (:mod:`avhubert_ami.training.run`).
"""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from avhubert_ami.data.modality import check_drop_probs
from avhubert_ami.errors import UsageError

logger = logging.getLogger(__name__)

#: Presets in conf/finetune/ (``--config_name``).
PRESETS = ("tiny_cpu", "base_ami", "large_ami")


def str2bool(value: str) -> bool:
    """Parse ``True/False`` (also yes/no, 1/0, case-insensitive) as the users' guide writes them."""
    if isinstance(value, bool):
        return value
    v = value.strip().lower()
    if v in ("true", "t", "yes", "y", "1"):
        return True
    if v in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {value!r}")


def positive_int(value: str) -> int:
    """An integer >= 1."""
    v = int(value)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return v


def non_negative_int(value: str) -> int:
    """An integer >= 0."""
    v = int(value)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return v


def positive_float(value: str) -> float:
    """A float > 0."""
    v = float(value)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return v


def probability(value: str) -> float:
    """A float in [0, 1]."""
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return v


def snr_range(value: str) -> str:
    """An SNR in dB, ``x`` or ``lo,hi``, as the canonical ``lo,hi`` text of the task's SNR options."""
    from avhubert_ami.data.noise import parse_snr

    try:
        lo, hi = parse_snr(value, name="SNR")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return f"{lo:g},{hi:g}"


_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./~+:@-]+$")


def hydra_str(value: Any) -> str:
    """Format a Python value for a hydra command-line override that yields exactly ``value`` once hydra has parsed
    it and omegaconf resolved it: any path works (spaces, commas, ``=``, quotes, non-ASCII letters, ``${``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_str(v) for v in value) + "]"
    s = str(value)
    if _SAFE_VALUE.match(s):
        return s
    # in hydra's quoted strings a backslash escapes only a quote or the backslashes right before one (or before the
    # closing quote); omegaconf would resolve ${...}, which \${ keeps literal (backslashes before it doubled too)
    s = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", s)
    s = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", s)
    s = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, s)
    return "'" + s + "'"


def check_run_dir(path: Path, flag: str = "--output_dir") -> None:
    """Refuse a folder hydra cannot run in: any name works (:func:`hydra_str` quotes it) except one with ``${``,
    which hydra reads again as an interpolation when it builds the log file's name from the run folder."""
    if "${" in str(path):
        raise UsageError(f"{flag} {path}: hydra cannot run in a folder whose path contains '${{'; rename the folder")


def override_key(override: str) -> str:
    """The config key of a hydra override: ``++task.data=/x`` -> ``task.data`` (``+``/``++``/``~`` prefixes)."""
    return override.partition("=")[0].strip().lstrip("+~")


def sets_key(overrides: Sequence[str], key: str) -> bool:
    """True when one of ``overrides`` sets (or deletes) ``key``."""
    return any(override_key(o) == key for o in overrides)


@dataclass
class RunContext:
    """What the driver resolved before mapping: absolute paths, device, initial checkpoint."""

    output_dir: Path
    data_dir: Optional[Path] = None
    cuda: bool = False
    init_kind: str = "scratch"  # "scratch" | "pretrain" | "seq2seq"
    init_path: Optional[Path] = None


Mapper = Callable[[Any, argparse.Namespace, RunContext], Dict[str, Any]]


@dataclass(frozen=True)
class Flag:
    """One command-line flag: argparse settings plus its hydra mapping (None = driver-only)."""

    name: str
    type: Callable[[str], Any]
    help: str
    to_hydra: Optional[Mapper] = None
    choices: Optional[Sequence[str]] = None
    is_bool: bool = False
    required: bool = False
    metavar: Optional[str] = None


def _set(key: str) -> Mapper:
    return lambda v, a, c: {key: v}


def _modalities(_v: Any, a: argparse.Namespace, _c: RunContext) -> Dict[str, Any]:
    mods = [m for m, on in (("audio", a.use_audio), ("video", a.use_visual)) if on is not False]
    return {"task.modalities": mods}


def _evaluation_strategy(v: str, a: argparse.Namespace, _c: RunContext) -> Dict[str, Any]:
    if v == "no":
        return {"dataset.disable_validation": True}
    if v == "epoch":
        return {"dataset.validate_interval": 1, "dataset.validate_interval_updates": 0}
    # "steps": validate every --eval_steps updates only (HF semantics), not at each epoch end
    return {"dataset.validate_interval": 1_000_000}


def non_negative_float(value: str) -> float:
    """A float >= 0."""
    v = float(value)
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return v


def _task_has_field(name: str) -> bool:
    """Whether the ``ami_av`` task config declares ``name`` (a hydra override of an unknown task key fails)."""
    from dataclasses import fields

    from avhubert_ami.tasks.ami_av import AMIAVConfig

    return name in {f.name for f in fields(AMIAVConfig)}


def _ctc_weight(v: float, _a: argparse.Namespace, _c: RunContext) -> Dict[str, Any]:
    """One weight for training (criterion share, CTC head on/off) and for validation decoding (task)."""
    out: Dict[str, Any] = {
        "criterion._name": "hybrid_ctc_attention",
        "criterion.ctc_weight": v,
        "model.ctc_head": v > 0,
    }
    if _task_has_field("ctc_weight"):
        out["task.ctc_weight"] = v
    return out


def _early_stopping(v: int, a: argparse.Namespace, _c: RunContext) -> Dict[str, Any]:
    out: Dict[str, Any] = {"checkpoint.patience": v}
    if a.evaluation_strategy == "steps" and a.save_steps is None:
        # save at every validation, so checkpoint_best.pt is the best validated model (fairseq only
        # records "best" when a validation and a save happen at the same update)
        out["checkpoint.save_interval_updates"] = a.eval_steps
    return out


def _init_checkpoint(_v: Any, _a: argparse.Namespace, c: RunContext) -> Dict[str, Any]:
    if c.init_kind == "pretrain":
        return {"model.w2v_path": str(c.init_path)}
    if c.init_kind == "seq2seq":
        return {"checkpoint.finetune_from_model": str(c.init_path)}
    return {}


def _data_dir(_v: Any, _a: argparse.Namespace, c: RunContext) -> Dict[str, Any]:
    d = c.data_dir
    return {"task.data": str(d), "task.label_dir": str(d), "task.tokenizer_bpe_model": str(d / "spm.model")}


def _output_dir(_v: Any, _a: argparse.Namespace, c: RunContext) -> Dict[str, Any]:
    return {
        "checkpoint.save_dir": str(c.output_dir / "checkpoints"),
        "common.tensorboard_logdir": str(c.output_dir / "tensorboard"),
    }


FLAGS: Tuple[Flag, ...] = (
    Flag(
        "output_dir",
        str,
        "where checkpoints, logs, tensorboard and eval_results.json go; re-running the same "
        "command resumes from OUTPUT_DIR/checkpoints/checkpoint_last.pt",
        _output_dir,
        required=True,
    ),
    Flag(
        "dataset_name",
        str,
        "a manifest directory ({train,valid,test}.tsv/.wrd + spm.model + dict.wrd.txt) or a "
        "HuggingFace dataset directory (audio, lip_video, transcript columns; converted once into OUTPUT_DIR/data)",
        _data_dir,
    ),
    Flag(
        "model_name_or_path",
        str,
        "official pretrained checkpoint (base/large_vox_iter5.pt -> model.w2v_path), a "
        "fine-tuned seq2seq checkpoint (official *_433h.pt or ours: weights loaded, fresh optimizer), or omit to "
        "train from scratch",
        _init_checkpoint,
    ),
    Flag(
        "config_name",
        str,
        "preset in conf/finetune (default: base_ami/large_ami matching a pretrained or seq2seq "
        "checkpoint's size, tiny_cpu without a checkpoint)",
        choices=PRESETS,
    ),
    Flag("do_train", str2bool, "train (fairseq-hydra-train)", is_bool=True),
    Flag(
        "do_eval",
        str2bool,
        "decode the test split (valid when there is no test) and write WER/CER to "
        "OUTPUT_DIR/eval_results.json (audio+video, and audio-only / video-only when the model uses both)",
        is_bool=True,
    ),
    Flag(
        "evaluation_strategy",
        str,
        "validation (valid WER/CER) schedule: every --eval_steps updates, every epoch, or never",
        _evaluation_strategy,
        choices=("no", "steps", "epoch"),
    ),
    Flag(
        "eval_steps",
        positive_int,
        "validate every N updates (dataset.validate_interval_updates)",
        _set("dataset.validate_interval_updates"),
    ),
    Flag(
        "learning_rate",
        positive_float,
        "peak learning rate (optimization.lr)",
        lambda v, a, c: {"optimization.lr": [v]},
    ),
    Flag(
        "per_device_train_batch_size",
        positive_int,
        "utterances per batch per process (dataset.batch_size; the preset's max_tokens cap is lifted)",
        lambda v, a, c: {"dataset.batch_size": v, "dataset.max_tokens": None},
    ),
    Flag(
        "per_device_eval_batch_size",
        positive_int,
        "utterances per validation / --do_eval batch (dataset.batch_size_valid)",
        lambda v, a, c: {"dataset.batch_size_valid": v, "dataset.max_tokens_valid": None},
    ),
    Flag(
        "gradient_accumulation_steps",
        positive_int,
        "batches per update (optimization.update_freq)",
        lambda v, a, c: {"optimization.update_freq": [v]},
    ),
    Flag(
        "num_train_epochs",
        positive_int,
        "epochs to train (optimization.max_epoch; lifts the preset's max_update unless --max_steps is given)",
        lambda v, a, c: {"optimization.max_epoch": v, **({} if a.max_steps else {"optimization.max_update": 0})},
    ),
    Flag(
        "max_steps",
        positive_int,
        "updates to train (optimization.max_update); wins over --num_train_epochs",
        _set("optimization.max_update"),
    ),
    Flag(
        "warmup_steps",
        non_negative_int,
        "LR warm-up updates (lr_scheduler.warmup_steps of tri_stage)",
        _set("lr_scheduler.warmup_steps"),
    ),
    Flag(
        "logging_steps",
        positive_int,
        "log training stats every N updates (common.log_interval)",
        _set("common.log_interval"),
    ),
    Flag(
        "save_steps",
        positive_int,
        "also save a checkpoint every N updates (checkpoint.save_interval_updates)",
        _set("checkpoint.save_interval_updates"),
    ),
    Flag(
        "save_total_limit",
        positive_int,
        "keep the last N update/epoch checkpoints (checkpoint.keep_interval_updates,"
        " checkpoint.keep_last_epochs); checkpoint_best.pt and checkpoint_last.pt are always kept",
        lambda v, a, c: {"checkpoint.keep_interval_updates": v, "checkpoint.keep_last_epochs": v},
    ),
    Flag(
        "dataloader_num_workers",
        non_negative_int,
        "data-loading worker processes (dataset.num_workers)",
        _set("dataset.num_workers"),
    ),
    Flag("seed", non_negative_int, "random seed (common.seed)", _set("common.seed")),
    Flag(
        "fp16",
        str2bool,
        "mixed precision on GPU (common.fp16); ignored with a warning on CPU",
        _set("common.fp16"),
        is_bool=True,
    ),
    Flag(
        "bf16",
        str2bool,
        "bfloat16 training on GPU (common.bf16); ignored with a warning on CPU",
        _set("common.bf16"),
        is_bool=True,
    ),
    Flag("use_audio", str2bool, "feed the audio stream (task.modalities)", _modalities, is_bool=True),
    Flag("use_visual", str2bool, "feed the lip video stream (task.modalities)", _modalities, is_bool=True),
    Flag(
        "audio_drop_prob",
        probability,
        "per-utterance probability of dropping audio in training (task.audio_drop_prob; never together with video)",
        _set("task.audio_drop_prob"),
    ),
    Flag(
        "visual_drop_prob",
        probability,
        "per-utterance probability of dropping video in training (task.visual_drop_prob)",
        _set("task.visual_drop_prob"),
    ),
    Flag(
        "interference_prob",
        probability,
        "per-utterance probability of mixing the audio of another training utterance (another speaker when "
        "AMI ids tell) into the training audio, the lip video unchanged (task.interference_prob; default 0 = off)",
        _set("task.interference_prob"),
    ),
    Flag(
        "interference_snr",
        snr_range,
        "dB of the target voice over the interfering one, X or a range LO,HI drawn uniformly "
        "(task.interference_snr; default 0,10; write --interference_snr=-5,5 for a negative start)",
        _set("task.interference_snr"),
    ),
    Flag(
        "fusion",
        str,
        "how audio and video features are fused (model.modality_fuse); a checkpoint fixes it",
        _set("model.modality_fuse"),
        choices=("concat", "add"),
    ),
    Flag(
        "freeze_encoder",
        str2bool,
        "keep the encoder frozen for the whole run, train only the decoder (model.freeze_encoder)",
        _set("model.freeze_encoder"),
        is_bool=True,
    ),
    Flag(
        "ctc_weight",
        probability,
        "hybrid CTC/attention: share of the CTC loss in training, (1-w)*CE + w*CTC "
        "(criterion.ctc_weight; 0 = attention-only, no CTC head), and the CTC weight of joint decoding in "
        "validation and --do_eval (default: the preset's, 0.3 tiny_cpu / 0.1 base_ami, large_ami)",
        _ctc_weight,
    ),
    Flag(
        "early_stopping_patience",
        positive_int,
        "stop when the validation metric (--metric_for_best_model) has "
        "not improved for N validations (checkpoint.patience); --do_eval then decodes checkpoint_best.pt",
        _early_stopping,
    ),
    Flag(
        "metric_for_best_model",
        str,
        "validation metric that picks checkpoint_best.pt and drives early stopping, "
        "lower is better (checkpoint.best_checkpoint_metric; default wer)",
        lambda v, a, c: {"checkpoint.best_checkpoint_metric": v, "checkpoint.maximize_best_checkpoint_metric": False},
        choices=("wer", "cer", "loss"),
    ),
    Flag("generation_num_beams", positive_int, "beam size for --do_eval decoding (default 5)"),
    Flag(
        "lm_path",
        str,
        "--do_eval: shallow fusion with this language model checkpoint (avhubert-train-lm's LMDIR/checkpoint_best.pt)",
    ),
    Flag("lm_weight", non_negative_float, "--do_eval: weight of the --lm_path language model's log-probabilities"),
    Flag("eval_split", str, "split decoded by --do_eval (default: test, or valid when there is no test.tsv)"),
    Flag(
        "normalizer",
        str,
        "text normaliser of the validation WER/CER and of --do_eval (task.eval_wer_normalizer): "
        "basic, kaldi (AMI recipes) or whisper (Open ASR Leaderboard)",
        _set("task.eval_wer_normalizer"),
        choices=("basic", "kaldi", "whisper"),
    ),
    Flag("cpu", str2bool, "train on CPU even when a GPU is visible (common.cpu)", is_bool=True),
    Flag(
        "cpu_ddp_world_size",
        positive_int,
        "CPU data-parallel training with N gloo processes on this machine "
        "(one fairseq process per rank, started by this script)",
    ),
    Flag(
        "wait",
        str2bool,
        "when another run is writing to --output_dir (its lock names the pid), wait for it to finish instead of "
        "stopping",
        is_bool=True,
    ),
    Flag(
        "override",
        str,
        "extra hydra override KEY=VALUE (repeatable), applied last, e.g. --override optimization.clip_norm=10",
        metavar="KEY=VALUE",
    ),
)

FLAG_BY_NAME: Dict[str, Flag] = {f.name: f for f in FLAGS}


def build_parser(prog: str = "finetune_avhubert_ami.py") -> argparse.ArgumentParser:
    """The parser of every flag in :data:`FLAGS` (no defaults: absent flags map to nothing); a mistyped flag is
    answered with the closest one (:func:`avhubert_ami.argparsing.command_parser`)."""
    from avhubert_ami.argparsing import command_parser

    p = command_parser(
        prog,
        "Fine-tune AV-HuBERT for speech recognition on AMI (HF Trainer-style flags mapped onto fairseq hydra presets "
        "in conf/finetune; a flag left out keeps the preset's value). Boolean flags accept `--flag`, `--flag True`, "
        "`--flag False`.",
    )
    for f in FLAGS:
        kw: Dict[str, Any] = {"help": f.help, "default": None}
        if f.is_bool:
            kw.update(nargs="?", const=True, type=f.type, metavar="True|False")
        elif f.name == "override":
            kw.update(action="append", type=f.type, metavar=f.metavar)
        else:
            kw.update(type=f.type, choices=f.choices, required=f.required)
            if f.metavar:
                kw["metavar"] = f.metavar
        p.add_argument(f"--{f.name}", **kw)
    return p


def parse_args(argv: Optional[Sequence[str]] = None, prog: str = "finetune_avhubert_ami.py") -> argparse.Namespace:
    """Parse the command line (unknown flags are an error, as argparse reports them)."""
    return build_parser(prog).parse_args(argv)


@dataclass
class Checked:
    """Result of :func:`validate`: warnings to show, and flags disabled because they cannot apply."""

    warnings: List[str] = field(default_factory=list)


def validate(a: argparse.Namespace, cuda: bool) -> Checked:
    """Reject contradictory or meaningless combinations; downgrade GPU-only flags on CPU (with a warning).

    Mutates ``a`` only to switch off flags that cannot apply (``--fp16``/``--bf16`` on CPU).
    """
    out = Checked()
    if not a.do_train and not a.do_eval:
        raise UsageError("nothing to do: pass --do_train and/or --do_eval")
    if a.do_train and not a.dataset_name:
        raise UsageError("--do_train needs --dataset_name (a manifest or HuggingFace dataset directory)")
    if a.use_audio is False and a.use_visual is False:
        raise UsageError("--use_audio False and --use_visual False leave no input: keep at least one modality")
    check_drop_probs(a.audio_drop_prob or 0.0, a.visual_drop_prob or 0.0)
    if a.use_audio is False and a.audio_drop_prob:
        raise UsageError("--audio_drop_prob needs audio: it contradicts --use_audio False")
    if a.use_audio is False and a.interference_prob:
        raise UsageError("--interference_prob mixes speech into the audio: it contradicts --use_audio False")
    if a.use_visual is False and a.visual_drop_prob:
        raise UsageError("--visual_drop_prob needs video: it contradicts --use_visual False")
    if a.eval_steps is not None and a.evaluation_strategy in ("no", "epoch"):
        raise UsageError(
            f"--eval_steps {a.eval_steps} contradicts --evaluation_strategy {a.evaluation_strategy} "
            "(use --evaluation_strategy steps)"
        )
    if a.evaluation_strategy == "steps" and a.eval_steps is None:
        raise UsageError("--evaluation_strategy steps needs --eval_steps N")
    if a.eval_steps is not None and a.evaluation_strategy is None:
        a.evaluation_strategy = "steps"
    if a.fp16 and a.bf16:
        raise UsageError("--fp16 and --bf16 are exclusive: choose one")
    use_cpu = not cuda or a.cpu or a.cpu_ddp_world_size
    for name in ("fp16", "bf16"):
        if getattr(a, name) and use_cpu:
            out.warnings.append(f"--{name} needs a GPU; training on CPU in full precision instead")
            setattr(a, name, False)
    if a.freeze_encoder and not a.model_name_or_path:
        out.warnings.append(
            "--freeze_encoder True without --model_name_or_path freezes a randomly initialised "
            "encoder: only the decoder learns"
        )
    if not a.do_eval and (a.generation_num_beams is not None or a.eval_split is not None):
        out.warnings.append("--generation_num_beams/--eval_split only apply with --do_eval")
    _validate_eval_and_stopping(a, out)
    for ov in a.override or []:
        key, sep, _ = ov.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--override {ov!r} is not KEY=VALUE")
    return out


def _validate_eval_and_stopping(a: argparse.Namespace, out: Checked) -> None:
    """Early stopping needs validations; LM fusion needs a model file and only applies to --do_eval."""
    if a.early_stopping_patience is not None:
        if a.evaluation_strategy == "no":
            raise UsageError("--early_stopping_patience needs validations: it contradicts --evaluation_strategy no")
        if a.evaluation_strategy == "steps" and a.save_steps is not None and a.save_steps != a.eval_steps:
            raise UsageError(
                f"--early_stopping_patience with --evaluation_strategy steps saves at every evaluation "
                f"(so checkpoint_best.pt is the best evaluated model): --save_steps {a.save_steps} "
                f"must equal --eval_steps {a.eval_steps}, or drop it"
            )
        if not a.do_train:
            out.warnings.append("--early_stopping_patience only applies with --do_train")
    if a.lm_weight is not None and not a.lm_path:
        raise UsageError("--lm_weight needs --lm_path (the language model to fuse)")
    if a.lm_path:
        if not Path(a.lm_path).expanduser().is_file():
            raise UsageError(f"--lm_path {a.lm_path}: no such file (avhubert-train-lm writes LMDIR/checkpoint_best.pt)")
        if not a.do_eval:
            out.warnings.append("--lm_path/--lm_weight only apply with --do_eval (decoding)")


def overrides_for(a: argparse.Namespace, ctx: RunContext) -> List[str]:
    """``++key=value`` hydra overrides for every given flag, then ``--override`` items (which may not repeat a
    flag's key)."""
    mapped: Dict[str, Any] = {}
    source: Dict[str, str] = {}
    for f in FLAGS:
        value = getattr(a, f.name, None)
        if value is None or f.to_hydra is None:
            continue
        for key, v in f.to_hydra(value, a, ctx).items():
            mapped[key] = v
            source[key] = f"--{f.name}"
    # "++": set whether or not the preset names the key (plugin task/model fields are unknown to hydra
    # when it composes the config: fairseq imports the user dir only afterwards)
    out = [f"++{k}={hydra_str(v)}" for k, v in mapped.items()]
    for ov in a.override or []:
        key = override_key(ov)
        if key in source:
            raise UsageError(f"--override {ov!r} sets {key}, which {source[key]} already sets: give it once")
        out.append(ov)
    return out
