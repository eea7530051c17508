"""The demo's configuration (``scripts/run_demo.py``): what it decodes (test conditions x systems), its one
:class:`DemoConfig` with the ``--size`` presets mapped onto one flag per field, and the check that an output folder's
corpus, model and LM were made with the same settings (``OUT/demo_config.json``)."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence, Tuple


@dataclass(frozen=True)
class Setting:
    """A test condition: which test audio (clean, or babble at --snr dB over the same video) and modalities."""

    condition: str
    label: str
    modalities: Tuple[str, ...]


# video-only once: the noisy test set has the same video
SETTINGS = tuple(
    Setting(c, label, mods)
    for c, label, mods in (
        ("clean", "audio+video", ("audio", "video")),
        ("clean", "audio-only", ("audio",)),
        ("clean", "video-only", ("video",)),
        ("noisy", "audio+video", ("audio", "video")),
        ("noisy", "audio-only", ("audio",)),
    )
)


@dataclass(frozen=True)
class System:
    """A row's model (``hybrid`` or ``attention`` training) and search (joint CTC/attention, LM fusion)."""

    name: str
    model: str
    joint: bool = False
    lm: bool = False

    @property
    def slug(self) -> str:
        """Folder-name part: ``attention``, ``hybrid_att``, ``hybrid_joint``, ``hybrid_joint_lm``."""
        if self.model == "attention":
            return "attention"
        return "hybrid_" + ("joint" if self.joint else "att") + ("_lm" if self.lm else "")


ATTENTION_TRAINED = System("attention-only (trained without CTC)", "attention")
SYSTEMS = (
    System("hybrid-trained, attention-only search", "hybrid"),
    System("hybrid + joint CTC/attention search", "hybrid", joint=True),
    System("hybrid + joint search + LM", "hybrid", joint=True, lm=True),
)


def systems(compare_attention_only: bool) -> Tuple[System, ...]:
    """The rows' systems, the attention-only trained model first when it is trained."""
    return ((ATTENTION_TRAINED,) if compare_attention_only else ()) + SYSTEMS


@dataclass
class DemoConfig:
    """Sizes and knobs of the demo (``--size`` picks a preset, flags override it); why each value: README."""

    out_dir: str = "demo_out"
    seed: int = 0
    n_train: int = 1000
    n_valid: int = 200  # ~900 words: the weight grid's choices resolve ~0.1 WER points (60 left ties)
    n_test: int = 100
    text_mode: str = "grammar"  # meeting phrases with word order; "words": independent words
    min_words: int = 2
    max_words: int = 10
    snr: float = 0.0  # dB of babble in the noisy test condition
    max_updates: int = 900  # with the LM, the grid and the decoding: <= 15 min on 2 cores
    eval_steps: int = 225
    batch_size: int = 8
    learning_rate: float = 0.002
    ctc_weight: float = 0.3  # training share of the CTC loss (the tiny_cpu preset's)
    compare_attention_only: bool = False  # also train with --ctc_weight 0 (doubles the training time)
    audio_drop_prob: float = 0.25
    visual_drop_prob: float = 0.25
    noise_prob: float = 0.5  # training-time babble augmentation
    noise_snr: str = "-5,10"
    interference_prob: float = 0.25  # another training utterance mixed in (lips pick one voice of two)
    interference_snr: str = "0,10"  # dB of the target over the interfering speech
    lm_updates: int = 300
    lm_extra_sentences: int = 3000  # grammar sentences (another seed) beside the training transcripts
    lm_eval_epochs: int = 5  # validate/save the LM every N epochs (~7 updates each: saving each is slow)
    ctc_weights: str = "0,0.1,0.3,0.5,0.7,0.9"  # grid on valid
    lm_weights: str = "0.1,0.2,0.4"  # x ctc_weights on valid (lm_weight 0 is always in the grid)
    tune_each_modality: bool = False  # tune per modality set (x3 valid decodes) instead of on audio+video
    normalizer: str = "basic"
    beam: int = 5
    decode_batch_size: int = 16  # batch composition changes this model's hypotheses: keep it to compare runs
    workers: int = 2
    meetings: int = 0  # synthetic meetings transcribed after the utterance table (scripts/demo_meetings.py)
    meeting_minutes: float = 3.0


SIZES: Dict[str, Dict[str, object]] = {
    "demo": {},
    "tiny": dict(
        n_train=16,
        n_valid=4,
        n_test=4,
        max_updates=4,
        eval_steps=2,
        batch_size=4,
        beam=2,
        lm_updates=4,
        lm_extra_sentences=40,
        lm_eval_epochs=1,
        ctc_weights="0,0.3",
        lm_weights="0.2",
        meeting_minutes=0.5,
    ),
}

CONFIG_FILE = "demo_config.json"
#: fields that change only what every run redoes (tuning, decoding, reporting): all others made the artefacts
RECOMPUTED_EACH_RUN = frozenset(
    "out_dir workers compare_attention_only tune_each_modality normalizer beam decode_batch_size ctc_weights "
    "lm_weights meetings meeting_minutes".split()
)


def artefact_config(cfg: DemoConfig) -> Dict[str, object]:
    """The fields of ``cfg`` that the corpus, manifests, model and LM of an output folder were made with."""
    return {k: v for k, v in asdict(cfg).items() if k not in RECOMPUTED_EACH_RUN}


def check_output_folder(out: str, cfg: DemoConfig, artefacts: Sequence[str]) -> None:
    """Refuse (UsageError) a folder whose artefacts were made with another configuration, else record this one:
    every step resumes what it finds, so a changed corpus, model or LM setting would silently reuse the old ones."""
    from avhubert_ami.errors import UsageError
    from avhubert_ami.files import atomic_write

    path, want = os.path.join(out, CONFIG_FILE), artefact_config(cfg)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            have = json.load(f)
        changed = [f"{k} {have.get(k)!r} -> {v!r}" for k, v in want.items() if have.get(k) != v]
        if changed:
            raise UsageError(
                f"{out} holds a demo made with another configuration ({'; '.join(changed)}): its corpus, model "
                "and LM would be reused; remove the folder or choose another --out_dir"
            )
        return
    found = [os.path.basename(a) for a in artefacts if os.path.exists(a)]
    if found:
        raise UsageError(
            f"{out} holds demo artefacts ({', '.join(found)}) but no {CONFIG_FILE} (made by an older version): they "
            "may come from another configuration and would be reused; remove the folder or choose another --out_dir"
        )
    os.makedirs(out, exist_ok=True)
    with atomic_write(path) as f:
        json.dump(want, f, indent=1)


def parse_seeds(text: str) -> List[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (distinct, in the order given); UsageError otherwise."""
    from avhubert_ami.errors import UsageError

    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds: comma-separated integers expected, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds: need distinct integers, got {text!r}")
    return seeds


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return text.lower() in ("1", "true", "yes", "on")
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """``--size``, ``--seeds`` and one flag per :class:`DemoConfig` field (unset: the size preset's value)."""
    from avhubert_ami.cli.boundary import command_parser

    p = command_parser(prog, description)
    p.add_argument("--size", choices=sorted(SIZES), default="demo", help="preset sizes (tiny: a smoke test)")
    p.add_argument(
        "--seeds",
        help="run the whole demo once per seed (e.g. 0,1,2) under OUT/seed<N>/ and write OUT/spread.md "
        "(mean/min/max of every row); not with --seed",
    )
    for name, value in asdict(DemoConfig()).items():
        kind = _bool if isinstance(value, bool) else type(value)
        p.add_argument(f"--{name}", type=kind, default=None, help=f"{value!r} unless the --size preset sets it")
    return p


def configs(args: argparse.Namespace) -> List[DemoConfig]:
    """One :class:`DemoConfig` per seed of the parsed flags (``--seeds``: each in ``OUT/seed<N>``)."""
    values = dict(SIZES[args.size])
    values.update({k: v for k, v in vars(args).items() if k not in ("size", "seeds") and v is not None})
    if not args.seeds:
        return [DemoConfig(**values)]
    if args.seed is not None:
        from avhubert_ami.errors import UsageError

        raise UsageError("--seed and --seeds: give one of them")
    out = values.pop("out_dir", DemoConfig.out_dir)
    return [DemoConfig(**values, seed=s, out_dir=os.path.join(out, f"seed{s}")) for s in parse_seeds(args.seeds)]
