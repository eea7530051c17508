#!/usr/bin/env python
"""End-to-end demo on the synthetic AMI-like corpus (what ``make demo`` runs): a recipe over the library.

    python scripts/run_demo.py [--out_dir demo_out] [--size demo|tiny] [--seeds 0,1,2] [--max_updates N] ...

Steps: ``synth_clean`` / ``synth_noisy`` (``synth.ami.generate``: the corpus, and its test split again with babble
at ``--snr`` dB over the same video), ``manifest_*`` + ``tokenizer`` (``prepare_hf_dataset``, ``train_tokenizer``),
``train`` (the users' guide training driver, ``avhubert_ami.training``; ``--compare_attention_only`` adds
``train_attention`` with ``--ctc_weight 0``), ``lm`` (``lm.train.train_lm``), ``tune_weights`` (``ctc_weight`` x
``lm_weight`` on valid: ``decoding.weight_grid``; ``OUT/weights.json``), ``decode`` (the test split, one
``Recognizer`` per row, ``OUT/decode/<row>/``), then ``OUT/results.md``, ``results.json`` and ``valid_wer.png``
(``scripts/demo_report.py``). Each step's output goes to the console and ``OUT/logs/<step>.log``. A re-run resumes
a killed demo (finished work is skipped); ``OUT/demo_config.json`` refuses a folder made with other corpus, model
or LM settings (``scripts/demo_config.py``). ``--seeds 0,1,2``: one run per seed under ``OUT/seed<N>/``, then
``OUT/spread.md`` / ``spread.json``.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

try:
    from scripts import demo_config as config
    from scripts import demo_meetings as meetings
    from scripts import demo_report as report
except ImportError:  # python scripts/run_demo.py: this folder is on the path, the checkout need not be
    import demo_config as config
    import demo_meetings as meetings
    import demo_report as report

PROG = "run_demo"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lm_extra_text(seed: int, n: int, text_mode: str, min_words: int, max_words: int) -> List[str]:
    """``n`` sentences drawn from the corpus grammar with a seed stream of their own (never the corpus's)."""
    import numpy as np

    from avhubert_ami.synth.grammar import sample_text

    # SeedSequence([seed, 7, ...]) is disjoint from the corpus streams ([seed, split code, index]): fresh draws
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, 1_000_003]))
    return [" ".join(sample_text(rng, text_mode, min_words, max_words)) for _ in range(n)]


def train_argv(c: config.DemoConfig, manifest: str, noise_dir: str, out: str, ctc_weight: float) -> List[str]:
    """The users' guide flags (``finetune_avhubert_ami.py``) of one training run of the demo."""
    warmup, hold = max(1, c.max_updates // 10), c.max_updates // 2
    flags = dict(config_name="tiny_cpu", cpu=None, dataset_name=manifest, output_dir=out, do_train=None)
    flags.update(do_eval=False, seed=c.seed, ctc_weight=ctc_weight, normalizer=c.normalizer, max_steps=c.max_updates)
    flags.update(eval_steps=c.eval_steps, evaluation_strategy="steps", save_steps=c.eval_steps, warmup_steps=warmup)
    flags.update(per_device_train_batch_size=c.batch_size, learning_rate=c.learning_rate)
    flags.update(audio_drop_prob=c.audio_drop_prob, visual_drop_prob=c.visual_drop_prob)
    flags.update(interference_prob=c.interference_prob, interference_snr=c.interference_snr)
    flags.update(logging_steps=max(1, c.eval_steps // 4))
    # the preset's tri_stage stages are sized for its own max_update: fit them to ours, holding the peak rate for
    # half the run (an exponential decay from the start stalled learning at ~65% token accuracy)
    decay = max(1, c.max_updates - warmup - hold)
    overrides = [
        f"++task.noise_wav={noise_dir}",
        f"++task.noise_prob={c.noise_prob}",
        f"++task.noise_snr='{c.noise_snr}'",
    ]
    overrides += [f"++lr_scheduler.hold_steps={hold}", f"++lr_scheduler.decay_steps={decay}"]
    argv = [a for k, v in flags.items() for a in ([f"--{k}"] if v is None else [f"--{k}", str(v)])]
    return argv + [a for o in overrides for a in ("--override", o)]


class Demo:
    """One run of the recipe in ``cfg.out_dir``, timing each step."""

    def __init__(self, cfg: config.DemoConfig):
        self.cfg, self.out = cfg, os.path.abspath(cfg.out_dir)
        self.path = {k: os.path.join(self.out, k) for k in "corpus corpus_noisy manifest manifest_noisy lm".split()}
        self.log = report.StepLog(os.path.join(self.out, "logs"))
        self.step, self.say = self.log.step, self.log.say
        self.weights: Dict[str, Dict[str, object]] = {}  # modality label -> TunedWeights.record()

    def train_dir(self, model: str) -> str:
        """The training folder of the ``hybrid`` or the ``attention`` model."""
        return os.path.join(self.out, "train" if model == "hybrid" else "train_attention")

    def synthesize(self) -> None:
        """The clean corpus (with noise wavs for augmentation) and the noisy test split."""
        from avhubert_ami.synth.ami import SynthConfig, generate

        c = self.cfg
        common = dict(seed=c.seed, n_train=c.n_train, n_valid=c.n_valid, n_test=c.n_test, workers=c.workers)
        common.update(text_mode=c.text_mode, min_words=c.min_words, max_words=c.max_words)
        for name, extra in (("clean", dict(write_noise=True)), ("noisy", dict(splits=("test",), snr=c.snr))):
            cfg = SynthConfig(**common, **extra)
            with self.step(f"synth_{name}", f"generate({cfg})"):
                generate(cfg, self.path["corpus" if name == "clean" else "corpus_noisy"])

    def prepare(self) -> None:
        """Manifests of both corpora and the tokenizer of the clean one, whose labels the noisy test set shares."""
        from avhubert_ami.errors import WorkError
        from avhubert_ami.files import atomic_copy
        from avhubert_ami.prep.hf_dataset import Columns, prepare_hf_dataset
        from avhubert_ami.prep.runtime.options import WriterOptions
        from avhubert_ami.prep.tokenizer import train_tokenizer

        for condition, suffix in (("clean", ""), ("noisy", "_noisy")):
            src, dst = self.path["corpus" + suffix], self.path["manifest" + suffix]
            with self.step(f"manifest_{condition}", f"prepare_hf_dataset({src}, {dst})"):
                summary = prepare_hf_dataset(
                    src, dst, columns=Columns(id="utt_id"), writer=WriterOptions(num_workers=self.cfg.workers)
                )
                print(summary.report(f"manifest_{condition}"))
            if summary.failed:
                raise WorkError(f"{len(summary.failed)} utterances of {src} failed: see logs/manifest_{condition}.log")
            if condition == "clean":
                with self.step("tokenizer", f"train_tokenizer({dst})"):
                    train_tokenizer(dst)
        for name in ("spm.model", "spm.vocab", "dict.wrd.txt"):  # the same labels for the noisy test set
            atomic_copy(os.path.join(self.path["manifest"], name), os.path.join(self.path["manifest_noisy"], name))

    def train(self, model: str) -> None:
        """Train the ``hybrid`` model (``ctc_weight`` of the config) or the ``attention`` one (weight 0)."""
        import avhubert_ami
        from avhubert_ami.training import flags, run

        c = self.cfg
        ctc = c.ctc_weight if model == "hybrid" else 0.0
        noise = os.path.join(self.path["corpus"], "noise")
        argv = train_argv(c, self.path["manifest"], noise, self.train_dir(model), ctc)
        with self.step(
            "train" if model == "hybrid" else "train_attention", shlex.join(["finetune_avhubert_ami.py"] + argv)
        ):
            avhubert_ami.load_plugin()
            run.train(run.prepare(flags.parse_args(argv, prog=PROG)))

    def train_lm(self) -> str:
        """The LM for shallow fusion (training transcripts + grammar text of another seed); its checkpoint."""
        from avhubert_ami.files import write_if_changed
        from avhubert_ami.lm.train import train_lm

        c, lm_dir = self.cfg, self.path["lm"]
        os.makedirs(lm_dir, exist_ok=True)
        extra = os.path.join(lm_dir, "extra_text.txt")
        text = "".join(
            s + "\n" for s in lm_extra_text(c.seed, c.lm_extra_sentences, c.text_mode, c.min_words, c.max_words)
        )
        write_if_changed(extra, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))  # unchanged: LM not redone
        overrides = [f"dataset.validate_interval={c.lm_eval_epochs}", f"checkpoint.save_interval={c.lm_eval_epochs}"]
        overrides.append(f"optimization.max_update={c.lm_updates}")
        with self.step("lm", f"train_lm({self.path['manifest']}, {lm_dir}, [{extra}], 'tiny', {overrides})"):
            return str(train_lm(self.path["manifest"], lm_dir, [extra], "tiny", overrides))

    def checkpoint(self, model: str) -> str:
        """The model to decode: ``checkpoint_best.pt`` of the training run, else its ``checkpoint_last.pt``."""
        from avhubert_ami.errors import WorkError

        found = [Path(self.train_dir(model), "checkpoints", n) for n in ("checkpoint_best.pt", "checkpoint_last.pt")]
        if not any(p.is_file() for p in found):
            raise WorkError(f"no checkpoint in {found[0].parent} (see {self.path['logs']})")
        return str(next(p for p in found if p.is_file()))

    def recognizer(self, model: str, modalities: Sequence[str], data: str, lm_path: Optional[str] = None):
        """A :class:`Recognizer` of the model on ``data`` with the demo's beam and decoding batch (and the LM)."""
        from avhubert_ami.decoding.recognizer import Recognizer
        from avhubert_ami.decoding.settings import SearchSettings

        settings = SearchSettings(beam=self.cfg.beam, batch_size=self.cfg.decode_batch_size, lm_path=lm_path)
        return Recognizer.from_checkpoint(
            self.checkpoint(model), settings, data_dir=data, modalities=list(modalities), device="cpu"
        )

    def tune(self, lm_path: str) -> None:
        """Weights chosen on valid (never test) over ``ctc_weights`` x (0 + ``lm_weights``), per modality set
        (``tune_each_modality``) or once on audio+video; ``OUT/weights.json``."""
        from avhubert_ami.decoding.split import SplitDecoder
        from avhubert_ami.decoding.weight_grid import parse_weights, tune_weights, write_weights

        c, data = self.cfg, self.path["manifest"]
        ctc_grid = parse_weights(c.ctc_weights, "ctc_weights")
        lm_grid = [0.0] + [w for w in parse_weights(c.lm_weights, "lm_weights") if w > 0]
        grid = [(w, lm) for lm in lm_grid for w in ctc_grid]  # both together: the LM's best ctc_weight is higher
        labels = sorted({s.label for s in config.SETTINGS}) if c.tune_each_modality else ["audio+video"]
        with self.step("tune_weights", f"tune_weights on valid, {len(grid)} points x {labels}"):
            for label in labels:
                mods = next(s.modalities for s in config.SETTINGS if s.label == label)
                decoder = SplitDecoder(self.recognizer("hybrid", mods, data, lm_path), data, "valid", c.normalizer)
                tuned = tune_weights(decoder, grid)
                self.weights[label] = tuned.record()
                joint, lm = tuned.joint, tuned.chosen
                self.say(
                    f"valid {label}: ctc_weight {joint['ctc_weight']:g} (WER {joint['wer']:.2f}); with the LM: "
                    f"ctc_weight {lm['ctc_weight']:g} + lm_weight {lm['lm_weight']:g} (WER {lm['wer']:.2f})"
                )
        applies_to = {s.label: s.label if c.tune_each_modality else "audio+video" for s in config.SETTINGS}
        self.weights_file = {"applies_to": applies_to, "by_modalities": self.weights}
        write_weights(os.path.join(self.out, "weights.json"), self.weights_file)

    def weights_for(self, setting: config.Setting, system: config.System) -> Tuple[float, float]:
        """``(ctc_weight, lm_weight)`` of a row: tuned on valid for the joint and LM systems, else 0."""
        if not system.joint:
            return 0.0, 0.0
        point = (self.weights.get(setting.label) or self.weights["audio+video"])["chosen" if system.lm else "joint"]
        return float(point["ctc_weight"]), float(point["lm_weight"]) if system.lm else 0.0

    def decode(self, lm_path: str) -> List[dict]:
        """Decode the test split for every setting and system."""
        from avhubert_ami.decoding.split import SplitDecoder, write_results

        c, rows = self.cfg, []
        with self.step("decode", "test split, every row"):
            for system in config.systems(c.compare_attention_only):
                for s in config.SETTINGS:
                    ctc, lm = self.weights_for(s, system)
                    data = self.path["manifest" if s.condition == "clean" else "manifest_noisy"]
                    recognizer = self.recognizer(system.model, s.modalities, data, lm_path if lm else None)
                    res = SplitDecoder(recognizer, data, "test", c.normalizer).decode(ctc, lm)
                    out_dir = os.path.join(self.out, "decode", f"{s.condition}_{s.label}_{system.slug}")
                    write_results(res, out_dir)
                    training = (
                        "attention-only" if system.model == "attention" else f"hybrid ctc_weight {c.ctc_weight:g}"
                    )
                    row = dict(condition=s.condition, modalities=s.label, system=system.name, training=training)
                    row.update(ctc_weight=ctc, lm_weight=lm, normalizer=res.normalizer, wer=res.wer, cer=res.cer)
                    row["precision"] = res.precision.get("used", "fp32")  # --precision auto: what this CPU ran
                    rows.append(dict(row, n_utterances=res.n_utterances, decode_dir=os.path.relpath(out_dir, self.out)))
                    self.say(
                        f"decode test {s.condition:5s} {s.label:11s} {system.name}: WER {res.wer:6.2f}  "
                        f"CER {res.cer:6.2f}  (ctc {ctc:g}, lm {lm:g}, {res.normalizer} normalizer)"
                    )
        return rows

    def meetings(self, started: Dict[str, object]) -> Dict[str, object]:
        """``--meetings N``: synthetic meetings transcribed under every condition of ``demo_meetings``, with the
        joint CTC weight chosen on valid; the ``kind: meetings`` record (also ``OUT/meetings/results.json``)."""
        c, out = self.cfg, os.path.join(self.out, "meetings")
        corpus = os.path.join(out, "corpus")
        with self.step("synth_meetings", f"generate_meetings({corpus}, {c.meetings} x {c.meeting_minutes:g} min)"):
            ids = meetings.synthesize(
                corpus, c.seed, c.meetings, c.meeting_minutes, (c.min_words, c.max_words), c.workers
            )
        ctc = float(self.weights["audio+video"]["joint"]["ctc_weight"])
        search = dict(beam=c.beam, batch_size=c.decode_batch_size, ctc_weight=ctc)
        with self.step("meetings", f"MeetingTranscriber on {', '.join(ids)}, {len(meetings.CONDITIONS)} conditions"):
            done = meetings.transcribe_all(
                self.checkpoint("hybrid"), self.path["manifest"], corpus, ids, out, search, c.normalizer, self.say
            )
        rows, targets = meetings.summarize(done)
        config_fields = dict(seed=c.seed, n_meetings=c.meetings, meeting_minutes=c.meeting_minutes)
        record = dict(kind="meetings", config=config_fields, meetings=list(ids), search=search)
        record.update(normalizer=c.normalizer, rows=rows, targets=targets, **started)
        print(meetings.write(out, record))
        return record

    def plot(self) -> None:
        """``OUT/valid_wer.png`` from the training logs (skipped when none has a validation)."""
        curves = {
            name: report.validation_curve(os.path.join(self.train_dir(model), "hydra_train.log"))
            for name, model in (("hybrid", "hybrid"), ("attention-only", "attention"))
        }
        curves = {k: v for k, v in curves.items() if v}
        if curves:
            report.plot_curves(curves, os.path.join(self.out, "valid_wer.png"))
        else:
            self.say("no validation WER in the training log; skipping the plot")

    def run_all(self, command: str) -> Dict[str, object]:
        """Every step in order, then the report; returns the ``results.json`` record (``command``: how the demo
        was started, for the record)."""
        started = report.provenance(command, REPO)  # the commit, machine and load the run starts with
        c, manifest = self.cfg, self.path["manifest"]
        config.check_output_folder(
            self.out, c, [os.path.join(self.out, k) for k in ("corpus", "manifest", "train", "lm")]
        )
        self.say(f"writing everything under {self.out}")
        self.synthesize()
        self.prepare()
        for model in ("hybrid", "attention") if c.compare_attention_only else ("hybrid",):
            self.train(model)
        lm_path = self.train_lm()
        self.tune(lm_path)
        rows = self.decode(lm_path)
        meeting_record = self.meetings(started) if c.meetings else None
        self.plot()
        extra_text = os.path.join(self.path["lm"], "extra_text.txt")
        results = dict(kind="demo", config=asdict(c), results=rows, chance=report.chance_row(manifest, c.normalizer))
        results.update(weights=self.weights_file, test_overlap_percent=report.test_overlap(manifest, extra_text))
        results.update(**self.log.record(), **started)
        results["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
        if meeting_record is not None:
            results["meetings"] = {k: meeting_record[k] for k in ("config", "meetings", "rows", "targets")}
        print(report.write_report(self.out, results))
        self.say(f"total {results['total_s']:.0f}s; results in {os.path.join(self.out, 'results.md')}")
        return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; exit status 2 for bad flags or a folder of another configuration, 1 when a step fails."""
    from avhubert_ami.cli.boundary import LOG_FORMAT, run_main

    argv = list(sys.argv[1:] if argv is None else argv)
    args = config.build_parser(PROG, __doc__).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    command = shlex.join(["python", "scripts/run_demo.py", *argv])

    def work() -> int:
        runs = {cfg.seed: Demo(cfg).run_all(command) for cfg in config.configs(args)}
        if args.seeds:
            rows = {seed: r["results"] + [r["chance"]] for seed, r in runs.items()}
            out = args.out_dir or config.DemoConfig.out_dir
            first = next(iter(runs.values()))
            print(report.write_spread(out, rows, {k: first[k] for k in ("command", "commit", "machine", "date")}))
        return 0

    return run_main(PROG, work)


if __name__ == "__main__":
    # a command line: start without fairseq, which the steps load once the flags are parsed (avhubert_ami/__init__.py)
    os.environ.setdefault("AVHUBERT_AMI_WITHOUT_FAIRSEQ", "1")
    sys.exit(main())
