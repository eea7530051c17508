"""Driver of ``finetune_avhubert_ami.py``: validate flags, resolve data/checkpoint, train, evaluate.

Training runs ``fairseq-hydra-train`` in child processes (:mod:`avhubert_ami.training.trainer_processes`: one-line
errors, they die with this process), with ``hydra.run.dir=OUTPUT_DIR`` (``.hydra/`` + ``hydra_train.log`` there) and
checkpoints in ``OUTPUT_DIR/checkpoints``. Running the same command again resumes from ``checkpoint_last.pt``
(fairseq's own restore logic). ``--cpu_ddp_world_size N`` starts N gloo ranks (one process each, no fairseq spawn).

One run at a time writes to an output folder: :func:`session` holds ``OUTPUT_DIR/.avhubert_ami.lock`` (the holder's
pid inside; :func:`avhubert_ami.prep.runtime.locking.output_lock`, as preparation does) from before the first write
until training and evaluation are done; a second run stops with one line naming that pid, or waits (``--wait``).
A killed run's lock is released by the kernel and its trainers die with it. Before the first update the manifests
training reads are checked against their media (:func:`check_manifests`), so a wrong ``n_video_frames`` stops the
run at once instead of when training reaches the row.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple

from avhubert_ami.errors import ManifestError, UsageError
from avhubert_ami.training.flags import (
    Checked,
    RunContext,
    check_run_dir,
    hydra_str,
    overrides_for,
    sets_key,
    validate,
)
from avhubert_ami.training.presets import FINETUNE_CONF, USER_DIR, load_finetune_preset
from avhubert_ami.training.stamps import file_signature, stamp_matches, write_stamp
from avhubert_ami.training.trainer_processes import hydra_train_command, log_size, run_trainers, stopped_early

logger = logging.getLogger("finetune_avhubert_ami")

if TYPE_CHECKING:
    from avhubert_ami.decoding.settings import SearchSettings

EVAL_MODES = {"audio_video": ["audio", "video"], "audio_only": ["audio"], "video_only": ["video"]}


@dataclass
class Plan:
    """Everything resolved before any work starts."""

    args: object
    ctx: RunContext
    preset: str
    config_dir: Path
    overrides: List[str]
    init: Optional[object] = None  # checkpoints.CheckpointInfo
    warnings: List[str] = field(default_factory=list)

    @property
    def checkpoint_dir(self) -> Path:
        return self.ctx.output_dir / "checkpoints"


def _add_default(overrides: List[str], key: str, value: str) -> None:
    """Append ``key=value`` unless a flag or --override already set ``key``."""
    if not sets_key(overrides, key):
        overrides.append(f"++{key}={hydra_str(value)}")


def _continuation_config(preset: str, info, output_dir: Path) -> Path:
    """Preset yaml with its model section replaced by the seq2seq checkpoint's (same architecture to load into)."""
    from dataclasses import fields

    from omegaconf import OmegaConf

    from avhubert_ami.models.seq2seq import AVHubertSeq2SeqConfig

    known = {f.name for f in fields(AVHubertSeq2SeqConfig)} - {"data", "normalize"}  # those interpolate task.*
    model = {k: v for k, v in info.model_cfg.items() if k in known}
    model["_name"] = "av_hubert_seq2seq"
    cfg = load_finetune_preset(preset)
    # the CTC head is part of the training recipe (created fresh when the checkpoint lacks it), not of
    # the architecture to load into: it follows the preset's criterion.ctc_weight
    model["ctc_head"] = bool(cfg.model.get("ctc_head", False))
    cfg.model = OmegaConf.create(model)
    out = output_dir / "config"
    out.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out / f"{preset}.yaml")
    return out


def decoder_width_overrides(preset: str, encoder_dim: int) -> Dict[str, str]:
    """Decoder width settings that fit a pretrained encoder of ``encoder_dim`` (the decoder must be as
    wide as the encoder it attends to): empty when the preset already fits, else the preset's decoder
    scaled to that width (same ffn ratio, the preset's heads or fewer so that they divide the width)."""
    from dataclasses import fields

    from avhubert_ami.models.seq2seq import AVHubertSeq2SeqConfig

    preset_model = load_finetune_preset(preset).model
    model = {
        f.name: int(preset_model.get(f.name, f.default))
        for f in fields(AVHubertSeq2SeqConfig)
        if f.name in ("decoder_embed_dim", "decoder_ffn_embed_dim", "decoder_attention_heads")
    }
    dim = model["decoder_embed_dim"]
    if dim == encoder_dim:
        return {}
    heads = next(h for h in range(model["decoder_attention_heads"], 0, -1) if encoder_dim % h == 0)
    return {
        "model.decoder_embed_dim": str(encoder_dim),
        "model.decoder_ffn_embed_dim": str(encoder_dim * model["decoder_ffn_embed_dim"] // dim),
        "model.decoder_attention_heads": str(heads),
    }


def check_writable(output_dir: Path) -> None:
    """Create ``output_dir`` and make sure files can be written there (before any child process logs into it)."""
    import tempfile

    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as e:
        raise UsageError(
            f"--output_dir {output_dir}: cannot write there ({e.strerror or e}); choose a writable folder"
        ) from e


@dataclass
class _Checked:
    """What :func:`_check` found before anything is written."""

    checked: Checked
    cuda: bool
    output_dir: Path
    info: Optional[object]  # checkpoints.CheckpointInfo


def _check(args) -> _Checked:
    """Validate the flags and inspect the checkpoint: everything that needs no write."""
    import torch

    from avhubert_ami.checkpoints.inspect import inspect_checkpoint

    cuda = torch.cuda.is_available()
    checked = validate(args, cuda)
    output_dir = Path(args.output_dir).expanduser().resolve()
    check_run_dir(output_dir)
    info = inspect_checkpoint(args.model_name_or_path) if args.model_name_or_path else None
    if info is not None and args.fusion and args.fusion != info.modality_fuse:
        raise UsageError(
            f"--fusion {args.fusion} contradicts the checkpoint's modality_fuse={info.modality_fuse} "
            f"({info.path}); drop --fusion"
        )
    if args.do_eval and not args.do_train and not args.dataset_name:
        raise UsageError("--do_eval needs --dataset_name (the manifest or HuggingFace dataset to decode)")
    if args.do_eval and not args.do_train and not (output_dir / "checkpoints" / "checkpoint_last.pt").exists():
        if info is None or info.kind != "seq2seq":
            given = (
                "no --model_name_or_path was given"
                if info is None
                else f"--model_name_or_path {info.path} is a {info.kind} checkpoint, not a fine-tuned (seq2seq) one"
            )
            raise UsageError(
                f"--do_eval without --do_train needs a fine-tuned checkpoint: {output_dir}/checkpoints "
                f"has none, and {given}"
            )
    return _Checked(checked, cuda, output_dir, info)


def prepare(args) -> Plan:
    """Validate flags, inspect the checkpoint, resolve the dataset, map flags to hydra overrides (without the output
    folder's lock: :func:`session` takes it)."""
    return _plan(args, _check(args))


@contextlib.contextmanager
def session(args) -> Iterator[Plan]:
    """:func:`prepare` under the lock of ``--output_dir``, held until the ``with`` block (training, evaluation)
    ends; another run holding it stops this one with one line naming its pid (or ``--wait`` waits for it)."""
    from avhubert_ami.prep.runtime.locking import output_lock

    found = _check(args)  # a bad flag is refused before the output folder is created
    check_writable(found.output_dir)
    with output_lock(str(found.output_dir), wait=bool(args.wait)):
        yield _plan(args, found)


def _plan(args, found: _Checked) -> Plan:
    """The writing part of :func:`prepare`: resume check, dataset conversion, continuation config, overrides."""
    from avhubert_ami.checkpoints.inspect import dictionary_size
    from avhubert_ami.training.data_source import resolve_dataset

    checked, cuda, output_dir, info = found.checked, found.cuda, found.output_dir, found.info
    check_writable(output_dir)
    if args.do_train:  # a resume's checkpoint: refused or unreadable -> one line here, not a trainer traceback
        from avhubert_ami.checkpoints.fairseq_patches import check_resume

        check_resume(str(output_dir / "checkpoints"))
    preset = args.config_name or (info.preset if info else "tiny_cpu")
    data_dir = resolve_dataset(args.dataset_name, output_dir) if args.dataset_name else None
    if info is not None and info.kind == "seq2seq" and data_dir is not None and info.vocab_size is not None:
        n = dictionary_size(data_dir)
        if n != info.vocab_size:
            raise UsageError(
                f"{info.path} has a {info.vocab_size}-entry output vocabulary but {data_dir}/dict.wrd.txt gives {n}: "
                "continue fine-tuning with the spm.model and dict.wrd.txt the checkpoint was trained with"
            )
    ctx = RunContext(
        output_dir=output_dir,
        data_dir=data_dir,
        cuda=cuda,
        init_kind=info.kind if info else "scratch",
        init_path=info.path if info else None,
    )
    overrides = overrides_for(args, ctx)
    _add_default(overrides, "common.user_dir", str(USER_DIR))
    if not cuda or args.cpu or args.cpu_ddp_world_size:
        _add_default(overrides, "common.cpu", "true")
        _add_default(overrides, "common.fp16", "false")
        _add_default(overrides, "common.bf16", "false")
    if info is not None and info.kind == "pretrain":
        fit = decoder_width_overrides(preset, info.encoder_embed_dim)
        if fit and not sets_key(overrides, "model.decoder_embed_dim"):
            logger.info(
                "decoder width follows the %d-d pretrained encoder: %s",
                info.encoder_embed_dim,
                ", ".join(f"{k}={v}" for k, v in fit.items()),
            )
        for key, value in fit.items():
            _add_default(overrides, key, value)
    config_dir = FINETUNE_CONF
    if info is not None and info.kind == "seq2seq" and args.do_train:
        config_dir = _continuation_config(preset, info, output_dir)
    for w in checked.warnings:
        logger.warning(w)
    return Plan(args, ctx, preset, config_dir, overrides, init=info, warnings=checked.warnings)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_commands(plan: Plan) -> List[List[str]]:
    """One ``fairseq-hydra-train`` command per process (one, or one per gloo rank)."""
    base = hydra_train_command(plan.config_dir, plan.preset, plan.overrides)
    world = plan.args.cpu_ddp_world_size or 1
    if world == 1:
        return [base + [f"hydra.run.dir={hydra_str(str(plan.ctx.output_dir))}"]]
    port = _free_port()
    cmds = []
    for rank in range(world):
        run_dir = plan.ctx.output_dir if rank == 0 else plan.ctx.output_dir / f"rank{rank}"
        cmds.append(
            base
            + [
                f"distributed_training.distributed_world_size={world}",
                f"distributed_training.distributed_rank={rank}",
                "distributed_training.distributed_no_spawn=true",
                f"distributed_training.distributed_init_method=tcp://127.0.0.1:{port}",
                "distributed_training.distributed_backend=gloo",
                "distributed_training.ddp_backend=legacy_ddp",
                "distributed_training.device_id=0",
                f"hydra.run.dir={hydra_str(str(run_dir))}",
            ]
        )
    return cmds


#: the splits fairseq-hydra-train reads (dataset.train_subset, dataset.valid_subset of every preset)
TRAINING_SPLITS = ("train", "valid")
#: where a run records the manifests it checked (so that a resume does not probe every file again)
MANIFEST_STAMP = ".manifests_checked.json"


def check_manifests(data_dir: Path, output_dir: Path, splits: Tuple[str, ...] = TRAINING_SPLITS) -> None:
    """Probe every row of the ``splits`` the run trains on against its media files (frame and sample counts) before
    the first update; raise :class:`ManifestError` naming the rows that disagree. A resume of the same manifests
    (same size and modification time) skips the probe."""
    from avhubert_ami.data.manifest import read_tsv
    from avhubert_ami.data.verify import verify_manifest

    tsvs = [data_dir / f"{s}.tsv" for s in splits if (data_dir / f"{s}.tsv").is_file()]
    record = {"manifests": [file_signature(str(p)) for p in tsvs]}
    stamp = output_dir / MANIFEST_STAMP
    if stamp_matches(stamp, record):
        return
    problems: List[str] = []
    for tsv in tsvs:
        manifest = read_tsv(str(tsv))
        logger.info("checking %d rows of %s against their media files", len(manifest.rows), tsv)
        problems += verify_manifest(manifest)
    if problems:
        more = f" (and {len(problems) - 1} more row(s))" if len(problems) > 1 else ""
        raise ManifestError(
            f"{problems[0]}{more}: the manifest disagrees with its media; re-run the preparation command that wrote "
            f"it, or list every such row with `avhubert-verify-manifest --manifest_dir {data_dir}`"
        )
    write_stamp(stamp, record)


def train(plan: Plan) -> None:
    """Check the manifests, then run training to completion; a failed trainer raises :class:`WorkError` (or
    :class:`UsageError`) with its one-line reason."""
    check_manifests(plan.ctx.data_dir, plan.ctx.output_dir)
    cmds = train_commands(plan)
    plan.ctx.output_dir.mkdir(parents=True, exist_ok=True)
    log = plan.ctx.output_dir / "hydra_train.log"
    start = log_size(log)
    logger.info("training: %s", " ".join(cmds[0]))
    run_trainers(cmds, log)
    log_early_stop(plan, start)


def log_early_stop(plan: Plan, start: int = 0) -> bool:
    """Say so when fairseq stopped this run early (checkpoint.patience), with the metric; True if it did
    (``start``: where this run's part of ``hydra_train.log`` begins)."""
    patience = plan.args.early_stopping_patience
    stopped = bool(patience) and stopped_early(plan.ctx.output_dir / "hydra_train.log", start)
    if stopped:
        metric = plan.args.metric_for_best_model or "the preset's best_checkpoint_metric"
        logger.info(
            "training stopped early: valid %s did not improve for %d validations "
            "(--early_stopping_patience); best model: %s",
            metric,
            patience,
            plan.checkpoint_dir / "checkpoint_best.pt",
        )
    return stopped


def search_settings(a) -> "SearchSettings":
    """The evaluation's search: ``--generation_num_beams``, ``--per_device_eval_batch_size`` and the joint-decoding
    and LM flags (absent: the checkpoint's own CTC weight, no LM)."""
    from avhubert_ami.decoding.settings import SearchSettings

    if a.lm_path and a.lm_weight is None:
        raise UsageError(f"--lm_path {a.lm_path} needs --lm_weight (the shallow-fusion weight, e.g. 0.2)")
    lm_path = str(Path(a.lm_path).expanduser().resolve()) if a.lm_path else None
    return SearchSettings(
        beam=a.generation_num_beams or SearchSettings.beam,
        batch_size=a.per_device_eval_batch_size or SearchSettings.batch_size,
        ctc_weight=a.ctc_weight,
        lm_path=lm_path,
        lm_weight=a.lm_weight or 0.0,
    ).check()


def eval_checkpoint(plan: Plan) -> Path:
    """checkpoint_best.pt, else checkpoint_last.pt of this run, else the given seq2seq checkpoint."""
    for name in ("checkpoint_best.pt", "checkpoint_last.pt"):
        if (plan.checkpoint_dir / name).is_file():
            return plan.checkpoint_dir / name
    if plan.init is not None and plan.init.kind == "seq2seq":
        return plan.init.path
    raise UsageError(f"no checkpoint to evaluate in {plan.checkpoint_dir}")


def evaluate(plan: Plan) -> Dict[str, object]:
    """Decode the eval split for each modality setting the model supports; write ``eval_results.json``."""
    from avhubert_ami.checkpoints.inspect import inspect_checkpoint
    from avhubert_ami.decoding.recognizer import Recognizer
    from avhubert_ami.decoding.split import SplitDecoder, write_results
    from avhubert_ami.files import atomic_write

    a = plan.args
    ckpt = eval_checkpoint(plan)
    data_dir = plan.ctx.data_dir
    split = a.eval_split or ("test" if (data_dir / "test.tsv").is_file() else "valid")
    trained_with = sorted(inspect_checkpoint(str(ckpt), flag="checkpoint").modalities)
    modes = EVAL_MODES if trained_with == ["audio", "video"] else {f"{trained_with[0]}_only": trained_with}
    settings = search_settings(a)
    normalizer = a.normalizer or "basic"
    device = "cpu" if not plan.ctx.cuda or a.cpu else None
    results: Dict[str, object] = {
        "checkpoint": str(ckpt),
        "split": split,
        "beam": settings.beam,
        "normalizer": normalizer,
    }
    results.update({k: getattr(settings, k) for k in ("ctc_weight", "lm_path", "lm_weight") if getattr(settings, k)})
    for name, mods in modes.items():
        recognizer = Recognizer.from_checkpoint(
            str(ckpt), settings, data_dir=str(data_dir), modalities=mods, device=device
        )
        r = SplitDecoder(recognizer, str(data_dir), split, normalizer).decode()
        write_results(r, str(plan.ctx.output_dir / "eval" / f"{split}_{name}"))
        results[name] = {"wer": r.wer, "cer": r.cer, "n_utterances": r.n_utterances}
        logger.info(
            "eval %s %s: WER %.2f CER %.2f (%d utterances, %s normalizer)",
            split,
            name,
            r.wer,
            r.cer,
            r.n_utterances,
            normalizer,
        )
    first = next(iter(modes))
    results["eval_wer"], results["eval_cer"] = results[first]["wer"], results[first]["cer"]
    with atomic_write(str(plan.ctx.output_dir / "eval_results.json")) as f:
        f.write(json.dumps(results, indent=1) + "\n")
    return results
