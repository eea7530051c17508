#!/usr/bin/env python
"""End-to-end demo on the synthetic AMI-like corpus (what ``make demo`` runs).

    python scripts/run_demo.py [--out_dir demo_out] [--size demo|tiny] [--seeds 0,1,2] [--max_updates N] ...

Steps (each prints its progress; each step's output is also kept in ``OUT/logs/<step>.log``):

1. ``preprocess.synth_ami``: clean corpus of meeting phrases drawn from a small grammar (train/validation/test
   + noise wavs for augmentation), and the same test utterances again with babble at ``--snr`` dB (same video);
2. ``preprocess.hf_to_manifest`` + ``preprocess.tokenizer``: manifests, sentencepiece model, dictionary;
3. ``finetune_avhubert_ami.py --config_name tiny_cpu --ctc_weight W``: hybrid CTC/attention training from
   scratch with modality dropout and noise augmentation, validating (WER) every ``--eval_steps`` updates;
   with ``--compare_attention_only`` a second model with ``--ctc_weight 0`` (same seed and updates);
4. ``python -m avhubert_ami.lm.train``: a tiny Transformer LM on the training transcripts plus extra text drawn
   from the same grammar with another seed (never the test utterances);
5. decoding weights chosen on the validation split only (``avhubert_ami.decoding.weight_grid``), one grid of
   ``ctc_weight`` x ``lm_weight``: the joint row takes its best point with ``lm_weight`` 0, the LM row the best
   of the whole grid; written to ``OUT/weights.json``;
6. decoding of the test split through :func:`avhubert_ami.decoding.split.decode_split` (what ``avhubert-decode``
   runs), one folder per row under ``OUT/decode/`` (``hypo.txt``, ``ref.txt``, ``results.json``);
7. ``OUT/results.md`` (WER/CER table), ``OUT/results.json`` and ``OUT/valid_wer.png``.

``--seeds 0,1,2`` runs all of it once per seed under ``OUT/seed<N>/`` and writes ``OUT/spread.md`` and
``OUT/spread.json`` (mean, min and max of every row over the seeds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (REPO, os.path.dirname(os.path.abspath(__file__))):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from demo_tables import CHANCE_SYSTEM, results_table, spread, spread_table  # noqa: E402


@dataclass(frozen=True)
class Setting:
    """A test condition: which test audio and which input modalities."""

    condition: str  # clean | noisy (babble at --snr dB; the video is the same)
    label: str
    modalities: Tuple[str, ...]


# Video-only is decoded once: the noisy test set has the same video, so its video-only row would repeat it.
SETTINGS: Tuple[Setting, ...] = (
    Setting("clean", "audio+video", ("audio", "video")),
    Setting("clean", "audio-only", ("audio",)),
    Setting("clean", "video-only", ("video",)),
    Setting("noisy", "audio+video", ("audio", "video")),
    Setting("noisy", "audio-only", ("audio",)),
)


@dataclass(frozen=True)
class System:
    """A row's model and search: which training (``hybrid`` or ``attention``), joint CTC search, LM fusion."""

    name: str
    model: str
    joint: bool = False
    lm: bool = False


ATTENTION_TRAINED = System("attention-only (trained without CTC)", "attention")
SYSTEMS: Tuple[System, ...] = (
    System("hybrid-trained, attention-only search", "hybrid"),
    System("hybrid + joint CTC/attention search", "hybrid", joint=True),
    System("hybrid + joint search + LM", "hybrid", joint=True, lm=True),
)


def systems(compare_attention_only: bool) -> Tuple[System, ...]:
    """The rows' systems, the attention-only trained model first when it is trained."""
    return ((ATTENTION_TRAINED,) if compare_attention_only else ()) + SYSTEMS


@dataclass
class DemoConfig:
    """Sizes and training knobs of the demo (``--size`` picks a preset, flags override it)."""

    out_dir: str = "demo_out"
    seed: int = 0
    n_train: int = 1000
    # the decoding weights are chosen on valid: 60 utterances (~270 words) left the LM weight to ties between grid
    # points 2 words apart (seed 0: lm 0.1 and 0.4 tied); 200 (~900 words) resolve ~0.1 points. The grid costs
    # ~3.5 min of the demo on 2 cores with the model loaded once (weight_grid / decode.SplitDecoder)
    n_valid: int = 200
    n_test: int = 100
    text_mode: str = "grammar"  # meeting phrases with word order (issue 12 §5); "words": independent words
    min_words: int = 2
    max_words: int = 10
    snr: float = 0.0  # dB of babble in the noisy test condition
    # a grammar utterance is ~53 frames against ~28 for the old 1-3 words: half the batch keeps an update's cost
    # where 16 short utterances were, and 900 updates (not 1000; 640 before the 24-point weight grid) leave room for
    # the LM, the weight grid and three times the decoding within 15 minutes on 2 cores (README: "what was traded");
    # validation WER still fell at 640 updates
    max_updates: int = 900
    eval_steps: int = 225
    batch_size: int = 8
    learning_rate: float = 0.002
    ctc_weight: float = 0.3  # training share of the CTC loss (the tiny_cpu preset's)
    compare_attention_only: bool = False  # also train with --ctc_weight 0 (doubles the training time)
    audio_drop_prob: float = 0.25
    visual_drop_prob: float = 0.25
    noise_prob: float = 0.5  # training-time babble augmentation
    noise_snr: str = "-5,10"
    lm_updates: int = 300  # valid loss still falls at 200 (1.83 -> 1.78 over the last 40); ~40 s on 2 cores
    lm_extra_sentences: int = 3000  # grammar sentences (another seed) beside the training transcripts
    lm_eval_epochs: int = 5  # validate/save the LM every N epochs (an epoch is ~7 updates: saving each is slow)
    ctc_weights: str = "0,0.1,0.3,0.5,0.7,0.9"  # grid on valid (weight_grid's default)
    lm_weights: str = "0.1,0.2,0.4"  # x ctc_weights on valid (lm_weight 0 is always in the grid)
    tune_each_modality: bool = False  # tune per modality set (x3 valid decodes) instead of on audio+video
    normalizer: str = "basic"
    beam: int = 5
    decode_batch_size: int = 16
    workers: int = 2


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
    ),
}


class StepError(RuntimeError):
    """A pipeline step failed; the message names the step and its log file."""


#: what ``OUT/demo_config.json`` records: every field a reused artefact depends on (corpus, manifests, model, LM).
#: The others only change what is tuned, decoded or reported, which every run redoes.
CONFIG_FILE = "demo_config.json"
_RECOMPUTED_EACH_RUN = frozenset(
    {
        "out_dir",
        "workers",
        "compare_attention_only",  # its own train_attention/ folder
        "tune_each_modality",
        "normalizer",
        "beam",
        "decode_batch_size",
        "ctc_weights",
        "lm_weights",
    }
)


def artefact_config(cfg: "DemoConfig") -> Dict[str, object]:
    """The fields of ``cfg`` that the corpus, manifests, model and LM of an output folder were made with."""
    return {k: v for k, v in asdict(cfg).items() if k not in _RECOMPUTED_EACH_RUN}


def check_output_folder(out: str, cfg: "DemoConfig", artefacts: Sequence[str]) -> None:
    """Refuse an output folder whose artefacts were made with another configuration, then record this one.

    Every step resumes what it finds (a finished training run is not trained again), so without this check a
    changed corpus size, ``--max_updates`` or LM setting would silently reuse the old corpus, model or LM."""
    from avhubert_ami.files import atomic_write

    path = os.path.join(out, CONFIG_FILE)
    want = artefact_config(cfg)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            have = json.load(f)
        changed = [f"{k} {have.get(k)!r} -> {v!r}" for k, v in want.items() if have.get(k) != v]
        if changed:
            raise StepError(
                f"{out} holds a demo made with another configuration ({'; '.join(changed)}): its corpus, model "
                "and LM would be reused; remove the folder or choose another --out_dir"
            )
        return
    found = [a for a in artefacts if os.path.exists(a)]
    if found:
        raise StepError(
            f"{out} holds demo artefacts ({', '.join(os.path.basename(a) for a in found)}) but no {CONFIG_FILE} "
            "(made by an older version): they may come from another configuration and would be reused; remove "
            "the folder or choose another --out_dir"
        )
    os.makedirs(out, exist_ok=True)
    with atomic_write(path) as f:
        json.dump(want, f, indent=1)


class _Tee:
    """Writes to the console stream and to a step's log file."""

    def __init__(self, console: TextIO, log: TextIO):
        self.console, self.log = console, log

    def write(self, text: str) -> int:
        self.log.write(text)
        return self.console.write(text)

    def flush(self) -> None:
        self.log.flush()
        self.console.flush()

    def __getattr__(self, name: str):  # isatty(), encoding, fileno() ... as the console has them
        return getattr(self.console, name)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    import resource

    return sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )


def lm_extra_text(seed: int, n: int, text_mode: str, min_words: int, max_words: int) -> List[str]:
    """``n`` sentences drawn from the corpus grammar with a seed stream of their own (never the corpus's)."""
    import numpy as np

    from avhubert_ami.synth.grammar import sample_text

    # SeedSequence([seed, 7]) is disjoint from the corpus streams ([seed, split code, index]): fresh draws
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, 1_000_003]))
    return [" ".join(sample_text(rng, text_mode, min_words, max_words)) for _ in range(n)]


class Demo:
    """Runs the pipeline steps in order, timing each."""

    def __init__(self, cfg: DemoConfig):
        self.cfg = cfg
        self.out = os.path.abspath(cfg.out_dir)
        self.paths = {
            k: os.path.join(self.out, k)
            for k in (
                "corpus",
                "corpus_noisy",
                "manifest",
                "manifest_noisy",
                "train",
                "train_attention",
                "lm",
                "logs",
                "decode",
            )
        }
        self.timings: Dict[str, float] = {}
        self.cpu_times: Dict[str, float] = {}  # user+sys CPU seconds per step (comparable on a loaded machine)
        self.t0 = time.time()
        self.weights: Dict[str, Dict[str, object]] = {}  # modality label -> tuned weights and their grid

    # ------------------------------------------------------------------ helpers
    def say(self, msg: str) -> None:
        print(f"[demo {time.time() - self.t0:6.0f}s] {msg}", flush=True)  # in a step_log: also its log file

    @contextlib.contextmanager
    def step_log(self, step: str) -> Iterator[None]:
        """Keep what an in-process step prints and logs in ``logs/<step>.log`` (the console still shows it)."""
        os.makedirs(self.paths["logs"], exist_ok=True)
        with open(os.path.join(self.paths["logs"], f"{step}.log"), "w", encoding="utf-8") as log:
            handler = logging.StreamHandler(log)
            handler.setFormatter(logging.Formatter("%(asctime)s | %(levelname)s | %(name)s | %(message)s"))
            logging.getLogger().addHandler(handler)
            # the preprocessing CLIs put the root logger at WARNING: keep the plugin's INFO lines (weight grid)
            logging.getLogger("avhubert_ami").setLevel(logging.INFO)
            start, cpu = time.time(), cpu_seconds()
            try:
                with contextlib.redirect_stdout(_Tee(sys.stdout, log)):
                    yield
            finally:
                logging.getLogger().removeHandler(handler)
                self.timings[step] = self.timings.get(step, 0.0) + time.time() - start
                self.cpu_times[step] = self.cpu_times.get(step, 0.0) + cpu_seconds() - cpu

    def call(self, step: str, module: str, args: Sequence[str]) -> None:
        """Run ``module.main(args)`` in this process (one fairseq import for all preprocessing steps)."""
        import importlib

        with self.step_log(step):
            self.say(f"{step}: python -m {module} {' '.join(args)}")
            rc = importlib.import_module(module).main(list(args))
        if rc:
            raise StepError(
                f"step {step!r} ({module}) failed with exit status {rc}; see "
                f"{os.path.join(self.paths['logs'], step + '.log')}"
            )
        self.say(f"{step}: done in {self.timings[step]:.0f}s")

    def run(self, step: str, args: Sequence[str]) -> None:
        """Run ``python ARGS`` from the repo root, streaming its output to the console and ``logs/<step>.log``."""
        os.makedirs(self.paths["logs"], exist_ok=True)
        log_path = os.path.join(self.paths["logs"], f"{step}.log")
        cmd = [sys.executable] + list(args)
        self.say(f"{step}: {' '.join(cmd[1:])}")
        start, cpu = time.time(), cpu_seconds()
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if not _is_noise(line):
                    sys.stdout.write("    " + line)
            rc = proc.wait()
        self.timings[step] = time.time() - start
        self.cpu_times[step] = cpu_seconds() - cpu
        if rc != 0:
            raise StepError(f"step {step!r} failed with exit status {rc}; see {log_path}")
        self.say(f"{step}: done in {self.timings[step]:.0f}s")

    # ------------------------------------------------------------------ steps
    def generate(self) -> None:
        c = self.cfg
        common = [
            "--seed",
            str(c.seed),
            "--n_train",
            str(c.n_train),
            "--n_valid",
            str(c.n_valid),
            "--n_test",
            str(c.n_test),
            "--workers",
            str(c.workers),
            "--text_mode",
            c.text_mode,
            "--min_words",
            str(c.min_words),
            "--max_words",
            str(c.max_words),
        ]
        self.call(
            "synth_clean", "preprocess.synth_ami", ["--output_dir", self.paths["corpus"], "--write_noise"] + common
        )
        self.call(
            "synth_noisy",
            "preprocess.synth_ami",
            ["--output_dir", self.paths["corpus_noisy"], "--splits", "test", "--snr", str(c.snr)] + common,
        )

    def manifests(self) -> None:
        w = str(self.cfg.workers)
        for step, corpus, manifest in (
            ("manifest_clean", "corpus", "manifest"),
            ("manifest_noisy", "corpus_noisy", "manifest_noisy"),
        ):
            self.call(
                step,
                "preprocess.hf_to_manifest",
                [
                    "--dataset_name",
                    self.paths[corpus],
                    "--output_dir",
                    self.paths[manifest],
                    "--id_column",
                    "utt_id",
                    "--num_workers",
                    w,
                ],
            )
            if step == "manifest_clean":
                self.call("tokenizer", "preprocess.tokenizer", ["--manifest_dir", self.paths["manifest"]])
        for name in ("spm.model", "spm.vocab", "dict.wrd.txt"):  # same labels for the noisy test set
            src = os.path.join(self.paths["manifest"], name)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(self.paths["manifest_noisy"], name))

    def train(self, model: str = "hybrid") -> None:
        """Train the ``hybrid`` model (``--ctc_weight`` of the config) or the ``attention`` one (weight 0)."""
        c = self.cfg
        ctc_weight = c.ctc_weight if model == "hybrid" else 0.0
        out = self.paths["train"] if model == "hybrid" else self.paths["train_attention"]
        noise_dir = os.path.join(self.paths["corpus"], "noise")
        warmup = max(1, c.max_updates // 10)
        hold = c.max_updates // 2
        self.run(
            "train" if model == "hybrid" else "train_attention",
            [
                "finetune_avhubert_ami.py",
                "--config_name",
                "tiny_cpu",
                "--cpu",
                "--dataset_name",
                self.paths["manifest"],
                "--output_dir",
                out,
                "--do_train",
                "--do_eval",
                "False",
                "--seed",
                str(c.seed),
                "--ctc_weight",
                str(ctc_weight),
                "--normalizer",
                c.normalizer,
                "--max_steps",
                str(c.max_updates),
                "--eval_steps",
                str(c.eval_steps),
                "--evaluation_strategy",
                "steps",
                "--save_steps",
                str(c.eval_steps),
                "--warmup_steps",
                str(warmup),
                "--per_device_train_batch_size",
                str(c.batch_size),
                "--learning_rate",
                str(c.learning_rate),
                "--audio_drop_prob",
                str(c.audio_drop_prob),
                "--visual_drop_prob",
                str(c.visual_drop_prob),
                "--logging_steps",
                str(max(1, c.eval_steps // 4)),
                "--override",
                f"++task.noise_wav={noise_dir}",
                "--override",
                f"++task.noise_prob={c.noise_prob}",
                "--override",
                f"++task.noise_snr='{c.noise_snr}'",
                # the preset's tri_stage stages are sized for its own max_update: fit them to ours, holding the peak
                # rate for half the run (an exponential decay from the start stalled learning at ~65% token accuracy)
                "--override",
                f"++lr_scheduler.hold_steps={hold}",
                "--override",
                f"++lr_scheduler.decay_steps={max(1, c.max_updates - warmup - hold)}",
            ],
        )

    def train_lm(self) -> str:
        """The LM for shallow fusion: training transcripts + grammar text of another seed; its checkpoint."""
        from avhubert_ami.files import atomic_write

        c = self.cfg
        os.makedirs(self.paths["lm"], exist_ok=True)
        extra = os.path.join(self.paths["lm"], "extra_text.txt")
        with atomic_write(extra) as f:
            f.writelines(
                s + "\n" for s in lm_extra_text(c.seed, c.lm_extra_sentences, c.text_mode, c.min_words, c.max_words)
            )
        self.run(
            "lm",
            [
                "-m",
                "avhubert_ami.cli.train_lm",
                "--manifest_dir",
                self.paths["manifest"],
                "--output_dir",
                self.paths["lm"],
                "--extra_text",
                extra,
                "--preset",
                "tiny",
                "--max_update",
                str(c.lm_updates),
                f"dataset.validate_interval={c.lm_eval_epochs}",
                f"checkpoint.save_interval={c.lm_eval_epochs}",
            ],
        )
        return os.path.join(self.paths["lm"], "checkpoint_best.pt")

    def checkpoint(self, model: str = "hybrid") -> str:
        train = self.paths["train"] if model == "hybrid" else self.paths["train_attention"]
        for name in ("checkpoint_best.pt", "checkpoint_last.pt"):
            p = os.path.join(train, "checkpoints", name)
            if os.path.exists(p):
                return p
        raise StepError(f"no checkpoint in {train}/checkpoints (see {self.paths['logs']})")

    def _recognizer(self, model: str, modalities: Sequence[str], data: str, lm_path: Optional[str] = None):
        from avhubert_ami.decoding.recognizer import Recognizer
        from avhubert_ami.decoding.settings import SearchSettings

        c = self.cfg
        settings = SearchSettings(beam=c.beam, batch_size=c.decode_batch_size, lm_path=lm_path)
        return Recognizer.from_checkpoint(
            self.checkpoint(model), settings, data_dir=data, modalities=list(modalities), device="cpu"
        )

    def tune(self, lm_path: str) -> None:
        """Choose the weights on the validation split (never test) over the grid ``ctc_weights`` x
        (0 + ``lm_weights``), per modality set (``tune_each_modality``) or once on audio+video: the joint row takes
        the best point without LM, the LM row the best of the whole grid; written to ``OUT/weights.json``."""
        from avhubert_ami.decoding.split import SplitDecoder
        from avhubert_ami.decoding.weight_grid import parse_weights, tune_weights

        c = self.cfg
        ctc_grid = parse_weights(c.ctc_weights, "ctc_weights")
        lm_grid = [0.0] + [w for w in parse_weights(c.lm_weights, "lm_weights") if w > 0]
        labels = sorted({s.label for s in SETTINGS}) if c.tune_each_modality else ["audio+video"]
        with self.step_log("tune_weights"):
            for label in labels:
                mods = next(s.modalities for s in SETTINGS if s.label == label)
                recognizer = self._recognizer("hybrid", mods, self.paths["manifest"], lm_path)
                # the LM's best ctc_weight is not the best one without it: tune both together (README)
                grid = [(w, lm) for lm in lm_grid for w in ctc_grid]
                tuned = tune_weights(SplitDecoder(recognizer, self.paths["manifest"], "valid", c.normalizer), grid)
                joint, lm = tuned.joint, tuned.chosen
                self.weights[label] = {"joint": joint, "lm": lm, "grid": tuned.grid}
                self.say(
                    f"valid {label}: ctc_weight {joint['ctc_weight']:g} (WER {joint['wer']:.2f}); with the LM: "
                    f"ctc_weight {lm['ctc_weight']:g} + lm_weight {lm['lm_weight']:g} (WER {lm['wer']:.2f})"
                )
        self._write_json(
            "weights.json",
            {
                "tuned_on": "valid",
                "normalizer": c.normalizer,
                "beam": c.beam,
                "lm_path": lm_path,
                "method": "grid ctc_weights x (0 + lm_weights); joint row: lowest WER with lm_weight 0; LM row: "
                "lowest WER of the whole grid; ties to the smaller weights",
                "applies_to": {s.label: (s.label if c.tune_each_modality else "audio+video") for s in SETTINGS},
                "by_modalities": self.weights,
            },
        )

    def weights_for(self, setting: Setting, system: System) -> Tuple[float, float]:
        """``(ctc_weight, lm_weight)`` of a row (tuned on valid for the joint and LM systems)."""
        if not system.joint:
            return 0.0, 0.0
        tuned = self.weights.get(setting.label) or self.weights["audio+video"]
        point = tuned["lm"] if system.lm else tuned["joint"]
        return float(point["ctc_weight"]), float(point["lm_weight"]) if system.lm else 0.0

    def decode(self, lm_path: str) -> List[dict]:
        """Decode the test split for every setting and system through avhubert-decode's ``decode_split``."""
        from avhubert_ami.decoding.split import SplitDecoder, write_results

        rows = []
        with self.step_log("decode"):
            for system in systems(self.cfg.compare_attention_only):
                for s in SETTINGS:
                    ctc, lm = self.weights_for(s, system)
                    data = self.paths["manifest"] if s.condition == "clean" else self.paths["manifest_noisy"]
                    recognizer = self._recognizer(system.model, s.modalities, data, lm_path if lm else None)
                    res = SplitDecoder(recognizer, data, "test", self.cfg.normalizer).decode(ctc, lm)
                    out_dir = os.path.join(self.paths["decode"], f"{s.condition}_{s.label}_{slug(system)}")
                    write_results(res, out_dir)
                    rows.append(
                        {
                            "condition": s.condition,
                            "modalities": s.label,
                            "system": system.name,
                            "training": "attention-only"
                            if system.model == "attention"
                            else f"hybrid ctc_weight {self.cfg.ctc_weight:g}",
                            "ctc_weight": ctc,
                            "lm_weight": lm,
                            "normalizer": res.normalizer,
                            "wer": res.wer,
                            "cer": res.cer,
                            "n_utterances": res.n_utterances,
                            "decode_dir": os.path.relpath(out_dir, self.out),
                        }
                    )
                    self.say(
                        f"decode test {s.condition:5s} {s.label:11s} {system.name}: WER {res.wer:6.2f}  "
                        f"CER {res.cer:6.2f}  (ctc {ctc:g}, lm {lm:g}, {res.normalizer} normalizer)"
                    )
        return rows

    # ------------------------------------------------------------------ reports
    def chance(self) -> dict:
        """Row of always answering the most frequent training word (a no-information baseline)."""
        from avhubert_ami.data.manifest import load_split
        from avhubert_ami.scoring.wer import error_rate

        c = self.cfg
        _, train = load_split(self.paths["manifest"], "train")
        _, test = load_split(self.paths["manifest"], "test")
        top = Counter(w for t in train for w in t.split()).most_common(1)[0][0]
        hyps, refs = [top] * len(test), list(test)
        return {
            "condition": "-",
            "modalities": "-",
            "system": CHANCE_SYSTEM,
            "training": "-",
            "ctc_weight": 0.0,
            "lm_weight": 0.0,
            "normalizer": c.normalizer,
            "n_utterances": len(test),
            "wer": error_rate(hyps, refs, normalizer=c.normalizer),
            "cer": error_rate(hyps, refs, char_level=True, normalizer=c.normalizer),
        }

    def test_overlap(self) -> Dict[str, float]:
        """Share (%) of test utterances whose exact text also occurs in the training transcripts and in the LM's
        extra text: the grammar is small, so short phrases recur everywhere, as they do in real meetings."""
        from avhubert_ami.data.manifest import load_split

        _, train = load_split(self.paths["manifest"], "train")
        _, test = load_split(self.paths["manifest"], "test")
        extra_path = os.path.join(self.paths["lm"], "extra_text.txt")
        with open(extra_path, encoding="utf-8") as f:
            extra = {line.strip() for line in f}
        share = lambda pool: 100.0 * sum(t in pool for t in test) / max(len(test), 1)  # noqa: E731
        return {"in_train_transcripts": share(set(train)), "in_lm_extra_text": share(extra)}

    def _write_json(self, name: str, obj: object) -> None:
        from avhubert_ami.files import atomic_write

        with atomic_write(os.path.join(self.out, name)) as f:
            json.dump(obj, f, indent=1)
            f.write("\n")

    def report(self, rows: List[dict]) -> str:
        from avhubert_ami.files import atomic_write

        c = self.cfg
        chance = self.chance()
        overlap = self.test_overlap()
        tuned = ", ".join(
            f"{label}: ctc {w['joint']['ctc_weight']:g}; ctc {w['lm']['ctc_weight']:g} + lm {w['lm']['lm_weight']:g}"
            for label, w in self.weights.items()
        )
        lines = [
            "# Synthetic AMI-like demo: tiny_cpu AV-HuBERT seq2seq trained from scratch",
            "",
            f"Corpus: {c.n_train} train / {c.n_valid} valid / {c.n_test} test utterances (held-out speakers) of "
            f"{c.min_words}-{c.max_words} words ({c.text_mode}), seed {c.seed}; noisy = babble at {c.snr:g} dB SNR "
            f"(same video, so video-only is decoded once). Training: {c.max_updates} updates of {c.batch_size} "
            f"utterances, hybrid CTC/attention (ctc_weight {c.ctc_weight:g}), modality dropout audio "
            f"{c.audio_drop_prob} / video {c.visual_drop_prob}, noise augmentation p={c.noise_prob} SNR "
            f"{c.noise_snr} dB. Beam {c.beam}.",
            "",
            f"Decoding weights chosen on valid (weights.json; {tuned}). LM: tiny Transformer, {c.lm_updates} "
            f"updates, on the training transcripts + {c.lm_extra_sentences} grammar sentences of another seed "
            f"(never the test split; {overlap['in_train_transcripts']:.0f}% of test utterances occur verbatim in the "
            f"training transcripts, {overlap['in_lm_extra_text']:.0f}% in the extra text).",
            "",
        ]
        lines += results_table(rows + [chance])
        lines += [
            "",
            "Step times, wall (CPU) s: "
            + ", ".join(f"{k} {v:.0f} ({self.cpu_times.get(k, 0):.0f})" for k, v in self.timings.items()),
        ]
        text = "\n".join(lines) + "\n"
        with atomic_write(os.path.join(self.out, "results.md")) as f:
            f.write(text)
        self._write_json(
            "results.json",
            {
                "config": asdict(c),
                "results": rows,
                "chance": chance,
                "weights": self.weights,
                "test_overlap_percent": overlap,
                "timings_s": self.timings,
                "cpu_s": self.cpu_times,
            },
        )
        return text

    def plot(self) -> Optional[str]:
        """``valid_wer.png`` from the training log(s); None when no log has a validation entry."""
        curves = {
            name: validation_curve(os.path.join(self.paths[key], "hydra_train.log"))
            for name, key in (("hybrid", "train"), ("attention-only", "train_attention"))
        }
        curves = {k: v for k, v in curves.items() if v}
        if not curves:
            self.say("no validation WER in the training log; skipping the plot")
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, points in curves.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ax.set_xlabel("updates")
        ax.set_ylabel("valid WER (%)")
        ax.set_title("tiny_cpu on the synthetic AMI-like corpus")
        ax.grid(alpha=0.3)
        ax.legend()
        path = os.path.join(self.out, "valid_wer.png")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def run_all(self) -> List[dict]:
        """Every step in order; returns the result rows (chance row excluded)."""
        check_output_folder(self.out, self.cfg, [self.paths[k] for k in ("corpus", "manifest", "train", "lm")])
        self.say(f"writing everything under {self.out}")
        self.generate()
        self.manifests()
        self.train("hybrid")
        if self.cfg.compare_attention_only:
            self.train("attention")
        lm_path = self.train_lm()
        self.tune(lm_path)
        rows = self.decode(lm_path)
        self.plot()
        print(self.report(rows))
        self.say(f"total {time.time() - self.t0:.0f}s; results in {os.path.join(self.out, 'results.md')}")
        return rows


def slug(system: System) -> str:
    """Folder-name part of a system: ``attention``, ``hybrid_att``, ``hybrid_joint``, ``hybrid_joint_lm``."""
    if system.model == "attention":
        return "attention"
    return "hybrid_" + ("joint" if system.joint else "att") + ("_lm" if system.lm else "")


_NOISY_PREFIXES = ("Saving the dataset", "DEBUG:", "INFO:datasets", "  warnings.warn")


def _is_noise(line: str) -> bool:
    """Console filter for chatter that stays in the step's log file only."""
    return line.lstrip("\r").startswith(_NOISY_PREFIXES) or "DeprecationWarning" in line


def validation_curve(log_path: str) -> List[Tuple[int, float]]:
    """``[(num_updates, valid_wer)]`` from fairseq's json log lines.

    The lines look like ``{"valid_wer": ..., "valid_num_updates": ...}``.
    """
    points = []
    if not os.path.exists(log_path):
        return points
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            if "valid_wer" not in line or "{" not in line:
                continue
            try:
                rec = json.loads(line[line.index("{") :])
            except ValueError:
                continue
            if "valid_wer" in rec and "valid_num_updates" in rec:
                points.append((int(float(rec["valid_num_updates"])), float(rec["valid_wer"])))
    return sorted(set(points))


def parse_seeds(text: str) -> List[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (unique, in the order given)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds: comma-separated integers expected, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: need distinct integers, got {text!r}")
    return seeds


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    d = DemoConfig()
    p = argparse.ArgumentParser(prog="python scripts/run_demo.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="demo", help="preset sizes (tiny: a smoke test)")
    p.add_argument(
        "--seeds",
        default=None,
        help="run the whole demo once per seed (e.g. 0,1,2) under OUT/seed<N>/ "
        "and write OUT/spread.md (mean/min/max of every row); overrides --seed",
    )
    for name, value in asdict(d).items():
        kind = _bool if isinstance(value, bool) else type(value)
        p.add_argument(f"--{name}", type=kind, default=None, help=f"default {value!r} (or the preset's)")
    return p


def write_spread(out_dir: str, runs: Dict[int, List[dict]]) -> str:
    """``OUT/spread.md`` and ``OUT/spread.json`` over the seeds of ``runs``; returns the markdown."""
    from avhubert_ami.files import atomic_write

    entries = spread(runs)
    text = (
        "\n".join(
            [f"# Spread over seeds {', '.join(map(str, sorted(runs)))} (each row: mean, min, max)", ""]
            + spread_table(entries)
        )
        + "\n"
    )
    with atomic_write(os.path.join(out_dir, "spread.md")) as f:
        f.write(text)
    with atomic_write(os.path.join(out_dir, "spread.json")) as f:
        json.dump({"seeds": sorted(runs), "rows": entries}, f, indent=1)
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    values = dict(SIZES[args.size])
    values.update({k: v for k, v in vars(args).items() if k not in ("size", "seeds") and v is not None})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(name)s | %(message)s")
    try:
        seeds = parse_seeds(args.seeds) if args.seeds else None
    except ValueError as err:
        print(f"run_demo: error: {err}", file=sys.stderr)
        return 2
    out_dir = os.path.abspath(values.get("out_dir", DemoConfig.out_dir))
    runs: Dict[int, List[dict]] = {}
    try:
        for seed in seeds or [values.get("seed", DemoConfig.seed)]:
            cfg = DemoConfig(
                **dict(values, seed=seed, out_dir=os.path.join(out_dir, f"seed{seed}") if seeds else out_dir)
            )
            demo = Demo(cfg)
            runs[seed] = demo.run_all() + [demo.chance()]
    except StepError as err:
        print(f"run_demo: error: {err}", file=sys.stderr)
        return 1
    if seeds:
        print(write_spread(out_dir, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
