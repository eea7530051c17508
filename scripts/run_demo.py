#!/usr/bin/env python
"""End-to-end demo on the synthetic AMI-like corpus (what ``make demo`` runs).

    python scripts/run_demo.py [--out_dir demo_out] [--size demo|tiny] [--max_updates N] ...

Steps (each prints its progress; child-process output is also kept in ``OUT/logs/<step>.log``):

1. ``preprocess.synth_ami``: clean corpus (train/validation/test + noise wavs for augmentation),
   and the same test utterances again with babble at ``--snr`` dB (identical video);
2. ``preprocess.hf_to_manifest`` + ``preprocess.tokenizer``: manifests, sentencepiece model, dictionary;
3. ``finetune_avhubert_ami.py --config_name tiny_cpu``: train from scratch with modality dropout and
   noise augmentation, validating (WER) every ``--eval_steps`` updates;
4. decode the test split with ``fairseq-generate`` (its ``main`` run in this process; WER from its
   ``ami_wer`` scorer, CER from its hypotheses, both with the plugin's ``basic`` normaliser) for audio+video,
   audio-only and video-only, on clean and on noisy audio (``OUT/decode/<setting>/generate-test.txt``);
5. write ``OUT/results.md`` (WER/CER table), ``OUT/results.json`` and ``OUT/valid_wer.png``
   (validation WER over updates, from fairseq's json training log).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

SETTINGS: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = (
    ("clean", "audio+video", ("audio", "video")),
    ("clean", "audio-only", ("audio",)),
    ("clean", "video-only", ("video",)),
    ("noisy", "audio+video", ("audio", "video")),
    ("noisy", "audio-only", ("audio",)),
    ("noisy", "video-only", ("video",)),
)


@dataclass
class DemoConfig:
    """Sizes and training knobs of the demo (``--size`` picks a preset, flags override it)."""

    out_dir: str = "demo_out"
    seed: int = 0
    n_train: int = 1000
    n_valid: int = 60
    n_test: int = 100
    min_words: int = 1  # short utterances keep the CPU cost per update down
    max_words: int = 3
    snr: float = 0.0  # dB of babble in the noisy test condition
    max_updates: int = 1000
    eval_steps: int = 250
    batch_size: int = 16
    learning_rate: float = 0.002
    audio_drop_prob: float = 0.25
    visual_drop_prob: float = 0.25
    noise_prob: float = 0.5  # training-time babble augmentation
    noise_snr: str = "-5,10"
    beam: int = 5
    workers: int = 2


SIZES: Dict[str, Dict[str, object]] = {
    "demo": {},
    "tiny": dict(n_train=16, n_valid=4, n_test=4, max_updates=4, eval_steps=2, batch_size=4, beam=2),
}


def generate_argv(checkpoint: str, data: str, modalities: Sequence[str], beam: int, results_path: str) -> List[str]:
    """The README's fairseq-generate command line for one decoding setting."""
    return [data, "--user-dir", os.path.join(REPO, "avhubert_ami"), "--task", "ami_av", "--path", checkpoint,
            "--gen-subset", "test", "--beam", str(beam), "--scoring", "ami_wer", "--post-process", "sentencepiece",
            "--batch-size", "16", "--required-batch-size-multiple", "1", "--max-len-a", "1.0", "--max-len-b", "10",
            "--cpu", "--modalities", ",".join(modalities), "--results-path", results_path]


def parse_generate_output(text: str) -> Tuple[float, List[str], List[str]]:
    """WER line, references (T-) and detokenised hypotheses (D-) of a fairseq-generate output, in id order."""
    # our ami_wer scorer names its normaliser ("WER (basic normalizer): 12.50"); fairseq's wer does not
    score = re.search(r"Generate test with beam=\d+: WER(?: \(\w+ normalizer\))?: ([0-9.]+)", text)
    if not score:
        raise StepError("fairseq-generate printed no WER line")
    refs = dict(re.findall(r"^T-(\d+)\t(.*)$", text, flags=re.M))
    hyps = dict(re.findall(r"^D-(\d+)\t[-0-9.eninf]+\t(.*)$", text, flags=re.M))
    ids = sorted(refs, key=int)
    return float(score.group(1)), [refs[i] for i in ids], [hyps.get(i, "") for i in ids]


def fairseq_generate(checkpoint: str, data: str, modalities: Sequence[str], beam: int,
                     out_dir: str) -> Tuple[float, List[str], List[str]]:
    """Run fairseq-generate's main on the test split; returns its WER and the references/hypotheses."""
    from fairseq import options
    from fairseq_cli import generate

    os.makedirs(out_dir, exist_ok=True)
    args = options.parse_args_and_arch(options.get_generation_parser(),
                                       generate_argv(checkpoint, data, modalities, beam, out_dir))
    generate.main(args)
    with open(os.path.join(out_dir, "generate-test.txt"), encoding="utf-8") as f:
        return parse_generate_output(f.read())


def write_lines(path: str, lines: Sequence[str]) -> None:
    """One line per item (hypotheses / references beside fairseq-generate's own output)."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


class StepError(RuntimeError):
    """A pipeline step failed; the message names the step and its log file."""


class Demo:
    """Runs the pipeline steps in order, timing each."""

    def __init__(self, cfg: DemoConfig):
        self.cfg = cfg
        self.out = os.path.abspath(cfg.out_dir)
        self.paths = {k: os.path.join(self.out, k) for k in
                      ("corpus", "corpus_noisy", "manifest", "manifest_noisy", "train", "logs", "decode")}
        self.timings: Dict[str, float] = {}
        self.t0 = time.time()

    # ------------------------------------------------------------------ helpers
    def say(self, msg: str) -> None:
        print(f"[demo {time.time() - self.t0:6.0f}s] {msg}", flush=True)

    def call(self, step: str, module: str, args: Sequence[str]) -> None:
        """Run ``module.main(args)`` in this process (one fairseq import for all preprocessing steps)."""
        import importlib

        self.say(f"{step}: python -m {module} {' '.join(args)}")
        start = time.time()
        rc = importlib.import_module(module).main(list(args))
        self.timings[step] = time.time() - start
        if rc:
            raise StepError(f"step {step!r} ({module}) failed with exit status {rc}")
        self.say(f"{step}: done in {self.timings[step]:.0f}s")

    def run(self, step: str, args: Sequence[str]) -> None:
        """Run ``python ARGS`` from the repo root, streaming its output to the console and ``logs/<step>.log``."""
        os.makedirs(self.paths["logs"], exist_ok=True)
        log_path = os.path.join(self.paths["logs"], f"{step}.log")
        cmd = [sys.executable] + list(args)
        self.say(f"{step}: {' '.join(cmd[1:])}")
        start = time.time()
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, bufsize=1)
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if not _is_noise(line):
                    sys.stdout.write("    " + line)
            rc = proc.wait()
        self.timings[step] = time.time() - start
        if rc != 0:
            raise StepError(f"step {step!r} failed with exit status {rc}; see {log_path}")
        self.say(f"{step}: done in {self.timings[step]:.0f}s")

    # ------------------------------------------------------------------ steps
    def generate(self) -> None:
        c = self.cfg
        common = ["--seed", str(c.seed), "--n_train", str(c.n_train), "--n_valid", str(c.n_valid),
                  "--n_test", str(c.n_test), "--workers", str(c.workers),
                  "--min_words", str(c.min_words), "--max_words", str(c.max_words)]
        self.call("synth_clean", "preprocess.synth_ami",
                  ["--output_dir", self.paths["corpus"], "--write_noise"] + common)
        self.call("synth_noisy", "preprocess.synth_ami",
                  ["--output_dir", self.paths["corpus_noisy"], "--splits", "test", "--snr", str(c.snr)] + common)

    def manifests(self) -> None:
        w = str(self.cfg.workers)
        for step, corpus, manifest in (("manifest_clean", "corpus", "manifest"),
                                       ("manifest_noisy", "corpus_noisy", "manifest_noisy")):
            self.call(step, "preprocess.hf_to_manifest", ["--dataset_name", self.paths[corpus], "--output_dir",
                                                          self.paths[manifest], "--id_column", "utt_id",
                                                          "--num_workers", w])
            if step == "manifest_clean":
                self.call("tokenizer", "preprocess.tokenizer", ["--manifest_dir", self.paths["manifest"]])
        for name in ("spm.model", "spm.vocab", "dict.wrd.txt"):  # same labels for the noisy test set
            src = os.path.join(self.paths["manifest"], name)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(self.paths["manifest_noisy"], name))

    def train(self) -> None:
        c = self.cfg
        noise_dir = os.path.join(self.paths["corpus"], "noise")
        warmup = max(1, c.max_updates // 10)
        hold = c.max_updates // 2
        self.run("train", [
            "finetune_avhubert_ami.py", "--config_name", "tiny_cpu", "--cpu",
            "--dataset_name", self.paths["manifest"], "--output_dir", self.paths["train"],
            "--do_train", "--do_eval", "False", "--seed", str(c.seed),
            "--max_steps", str(c.max_updates), "--eval_steps", str(c.eval_steps),
            "--evaluation_strategy", "steps", "--save_steps", str(c.eval_steps),
            "--warmup_steps", str(warmup),
            "--per_device_train_batch_size", str(c.batch_size), "--learning_rate", str(c.learning_rate),
            "--audio_drop_prob", str(c.audio_drop_prob), "--visual_drop_prob", str(c.visual_drop_prob),
            "--logging_steps", str(max(1, c.eval_steps // 4)),
            "--override", f"++task.noise_wav={noise_dir}", "--override", f"++task.noise_prob={c.noise_prob}",
            "--override", f"++task.noise_snr='{c.noise_snr}'",
            # the preset's tri_stage stages are sized for its own max_update: fit them to ours, holding the peak
            # rate for half the run (an exponential decay from the start stalled learning at ~65% token accuracy)
            "--override", f"++lr_scheduler.hold_steps={hold}",
            "--override", f"++lr_scheduler.decay_steps={max(1, c.max_updates - warmup - hold)}",
        ])

    def checkpoint(self) -> str:
        for name in ("checkpoint_best.pt", "checkpoint_last.pt"):
            p = os.path.join(self.paths["train"], "checkpoints", name)
            if os.path.exists(p):
                return p
        raise StepError(f"no checkpoint in {self.paths['train']}/checkpoints (see {self.paths['logs']}/train.log)")

    def decode(self) -> List[dict]:
        """Decode the test split with fairseq-generate (its ``main``, in this process to skip five start-ups)."""
        from avhubert_ami.scoring import error_rate

        ckpt = self.checkpoint()
        rows = []
        start = time.time()
        for cond, label, mods in SETTINGS:
            data = self.paths["manifest"] if cond == "clean" else self.paths["manifest_noisy"]
            out_dir = os.path.join(self.paths["decode"], f"{cond}_{label}")
            wer, refs, hyps = fairseq_generate(ckpt, data, mods, self.cfg.beam, out_dir)
            cer = error_rate(hyps, refs, char_level=True)
            write_lines(os.path.join(out_dir, "hypo.txt"), hyps)
            write_lines(os.path.join(out_dir, "ref.txt"), refs)
            rows.append({"condition": cond, "modalities": label, "wer": wer, "cer": cer, "n_utterances": len(hyps)})
            self.say(f"decode test {cond:5s} {label:11s}: WER {wer:6.2f}  CER {cer:6.2f}  (fairseq-generate)")
        self.timings["decode"] = time.time() - start
        return rows

    # ------------------------------------------------------------------ reports
    def chance_wer(self) -> Tuple[float, float]:
        """WER/CER of always answering the most frequent training word (a no-information baseline)."""
        from avhubert_ami.data.manifest import load_split
        from avhubert_ami.scoring import error_rate

        _, train = load_split(self.paths["manifest"], "train")
        _, test = load_split(self.paths["manifest"], "test")
        top = Counter(w for t in train for w in t.split()).most_common(1)[0][0]
        return error_rate([top] * len(test), list(test)), error_rate([top] * len(test), list(test), char_level=True)  # percent

    def report(self, rows: List[dict]) -> str:
        from avhubert_ami.data.manifest import atomic_write

        cw, cc = self.chance_wer()
        c = self.cfg
        lines = [
            "# Synthetic AMI-like demo: tiny_cpu AV-HuBERT seq2seq trained from scratch",
            "",
            f"Corpus: {c.n_train} train / {c.n_valid} valid / {c.n_test} test utterances (held-out speakers), "
            f"seed {c.seed}; noisy = babble at {c.snr:g} dB SNR. Training: {c.max_updates} updates, "
            f"modality dropout audio {c.audio_drop_prob} / video {c.visual_drop_prob}, "
            f"noise augmentation p={c.noise_prob} SNR {c.noise_snr} dB. Beam {c.beam}. WER and CER after the "
            "`basic` text normaliser (lower case, punctuation removed; avhubert_ami.scoring).",
            "",
            "| test audio | modalities | WER % | CER % | utterances |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [f"| {r['condition']} | {r['modalities']} | {r['wer']:.2f} | {r['cer']:.2f} | {r['n_utterances']} |"
                  for r in rows]
        lines += [f"| - | chance (most frequent word) | {cw:.2f} | {cc:.2f} | {c.n_test} |", ""]
        lines.append("Step times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.timings.items()))
        text = "\n".join(lines) + "\n"
        with atomic_write(os.path.join(self.out, "results.md")) as f:
            f.write(text)
        with atomic_write(os.path.join(self.out, "results.json")) as f:
            json.dump({"config": asdict(c), "normalizer": "basic", "results": rows, "chance": {"wer": cw, "cer": cc},
                       "timings_s": self.timings}, f, indent=1)
        return text

    def plot(self) -> Optional[str]:
        """``valid_wer.png`` from the training log; None when the log has no validation entry."""
        points = validation_curve(os.path.join(self.paths["train"], "hydra_train.log"))
        if not points:
            self.say("no validation WER in the training log; skipping the plot")
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        ax.set_xlabel("updates")
        ax.set_ylabel("valid WER (%)")
        ax.set_title("tiny_cpu on the synthetic AMI-like corpus")
        ax.grid(alpha=0.3)
        path = os.path.join(self.out, "valid_wer.png")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


_NOISY_PREFIXES = ("Saving the dataset", "DEBUG:", "INFO:datasets", "  warnings.warn")


def _is_noise(line: str) -> bool:
    """Console filter for chatter that stays in the step's log file only."""
    return line.lstrip("\r").startswith(_NOISY_PREFIXES) or "DeprecationWarning" in line


def validation_curve(log_path: str) -> List[Tuple[int, float]]:
    """``[(num_updates, valid_wer)]`` from fairseq's json log lines (``{"valid_wer": ..., "valid_num_updates": ...}``)."""
    points = []
    if not os.path.exists(log_path):
        return points
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            if "valid_wer" not in line or "{" not in line:
                continue
            try:
                rec = json.loads(line[line.index("{"):])
            except ValueError:
                continue
            if "valid_wer" in rec and "valid_num_updates" in rec:
                points.append((int(float(rec["valid_num_updates"])), float(rec["valid_wer"])))
    return sorted(set(points))


def build_parser() -> argparse.ArgumentParser:
    d = DemoConfig()
    p = argparse.ArgumentParser(prog="python scripts/run_demo.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=sorted(SIZES), default="demo", help="preset sizes (tiny: a smoke test)")
    for name, value in asdict(d).items():
        p.add_argument(f"--{name}", type=type(value), default=None, help=f"default {value!r} (or the preset's)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    values = dict(SIZES[args.size])
    values.update({k: v for k, v in vars(args).items() if k != "size" and v is not None})
    demo = Demo(DemoConfig(**values))
    os.makedirs(demo.out, exist_ok=True)
    demo.say(f"writing everything under {demo.out}")
    try:
        demo.generate()
        demo.manifests()
        demo.train()
        rows = demo.decode()
    except StepError as err:
        print(f"run_demo: error: {err}", file=sys.stderr)
        return 1
    demo.plot()
    print(demo.report(rows))
    demo.say(f"total {time.time() - demo.t0:.0f}s; results in {os.path.join(demo.out, 'results.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
