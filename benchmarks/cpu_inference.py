"""CPU inference at each precision: real-time factor of ``avhubert-transcribe``'s stages, fp32 against the others.

    python benchmarks/cpu_inference.py --size base|large [--seconds 60] [--precision fp32 int8 bf16]
        [--repeats 3] [--threads 2] [--path CKPT --data MANIFEST_DIR [--split test] [--ctc_weight W]] [--out JSON]

1. Speed: a randomly initialised ``av_hubert_seq2seq`` of upstream size (``--size``; no download) with a CTC head,
   and a ``--seconds`` lip-clip recording (mouth clip + 16 kHz wav: utterances of 1-12 s of harmonic "speech" and
   moving-blob lips, 0.4-1.5 s pauses). The recording goes through ``avhubert-transcribe``'s code path
   (:class:`~avhubert_ami.transcribe.Transcriber` with ``lip_video``) once per configuration and repeat, the
   configurations interleaved: ``fp32-time-order`` (fp32, segments batched in time order: the code before precisions
   and length-sorted batches), then each ``--precision`` with length-sorted batches (today's default). Reported per
   stage as real-time factor (seconds per second of recording; median over ``--repeats``): audio decode, VAD, mouth
   ROI (for a lip clip only reading and resizing frames: no landmarks), features, video front-end (ResNet), encoder
   (the rest of it: fusion and Transformer), search (beam search with the decoder and CTC prefix scores), total.
   A random model never ends a hypothesis by itself, so its search runs to the length cap: ``--max_len_a 0.16``
   (4 tokens per second, about the rate of AMI speech in sentencepiece tokens) gives it the number of decoder steps
   of real speech.
2. Accuracy (``--path`` + ``--data``): the WER of a trained checkpoint on ``--split`` at each precision, joint search
   at ``--ctc_weight`` (default: the checkpoint's own). A precision is allowed when its WER is within
   ``--max_wer_delta`` (0.3) points of fp32's. Without ``--path`` the accuracy is not checked (said so).
3. The mouth-ROI stage on a face video (352x288 close-up of a photo moving; landmarks + alignment), as RTF.

Ends with ``speed-up S.SS× at PRECISION over fp32``: the fastest allowed precision against ``fp32-time-order``.
Writes the JSON of everything (command, commit, CPU, torch, load average, threads, numbers) to ``--out``.

Threads: ``torch.set_num_threads(--threads)``. On a shared, oversubscribed machine GNU OpenMP's busy waiting makes
multi-threaded timings several times slower and erratic; unless ``OMP_WAIT_POLICY`` is set, this script sets it to
PASSIVE before torch starts (recorded in the JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from typing import Dict, List, Optional

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

BASELINE = "fp32-time-order"
STAGES = ("audio_decode", "vad", "roi", "features", "frontend", "encoder", "search")


# ---- inputs ----------------------------------------------------------------------------------------------------
def build_checkpoint(size: str, folder: str, vocab: int = 1000, seed: int = 0) -> str:
    """A fine-tuning checkpoint of a random ``size`` (tiny = the demo's preset, base, large) seq2seq model with a CTC
    head, its task pointing at ``folder`` (written here: ``dict.wrd.txt`` of ``vocab`` entries, ``spm.model``)."""
    import torch
    from fairseq import tasks
    from omegaconf import OmegaConf

    import avhubert_ami
    from avhubert_ami.data.manifest import write_dict
    from avhubert_ami.testing.models import SIZES, demo_model_config
    from avhubert_ami.testing.tiny_data import SENTENCES, train_spm
    from avhubert_ami.training.presets import load_finetune_preset

    avhubert_ami.load_plugin()
    train_spm(folder, SENTENCES)
    with open(os.path.join(folder, "dict.wrd.txt"), encoding="utf-8") as f:
        pieces = [line.split()[0] for line in f if line.strip()]
    pieces += [f"▁w{i}" for i in range(max(0, vocab - 4 - len(pieces)))]  # an AMI-sized output layer
    write_dict(os.path.join(folder, "dict.wrd.txt"), [(p, 1) for p in pieces])
    preset = load_finetune_preset("tiny_cpu" if size == "tiny" else "base_ami")
    task = OmegaConf.to_container(preset.task)
    task.update(data=folder, label_dir=folder, tokenizer_bpe_model=os.path.join(folder, "spm.model"))
    if size == "tiny":
        model = demo_model_config()
    else:
        enc, dec = SIZES[size]
        model = {**enc, **dec}
    model.update(_name="av_hubert_seq2seq", w2v_path=None, ctc_head=True, normalize=True, data=folder)
    cfg = OmegaConf.create({"common": {"seed": seed}, "task": task, "model": model})
    torch.manual_seed(seed)
    t = tasks.setup_task(cfg.task)
    net = t.build_model(cfg.model)
    path = os.path.join(folder, f"random_{size}.pt")
    state = {"args": None, "cfg": cfg, "model": net.state_dict(), "criterion": None, "extra_state": {}}
    history = [{"num_updates": 0, "optimizer_name": "none", "lr_scheduler_state": {"best": None}}]
    state.update(optimizer_history=history, task_state=t.state_dict())
    torch.save(state, path)
    return path


def make_recording(seconds: float, folder: str, seed: int = 0) -> tuple:
    """``(lip clip, wav, utterance lengths s)`` of about ``seconds``: utterances of 1-12 s (log-normal around 3.5 s,
    as meeting turns) after pauses of 0.4-1.5 s."""
    from avhubert_ami.testing.media import make_frames, make_wave
    from avhubert_ami.testing.recordings import write_long_recording

    rng = np.random.default_rng(seed)
    lengths, pauses, total = [], [], 1.0
    while total < seconds:
        n = int(round(25 * float(np.clip(rng.lognormal(np.log(3.5), 0.6), 1.0, 12.0))))
        p = float(rng.uniform(0.4, 1.5))
        n = min(n, max(25, int((seconds - total - p) * 25)))
        lengths.append(n)
        pauses.append(p)
        total += p + n / 25
    clips = ((make_frames(n, seed + i), make_wave(n * 640, seed + i)) for i, n in enumerate(lengths))
    video, wav = os.path.join(folder, "lips.mkv"), os.path.join(folder, "audio.wav")
    write_long_recording(clips, pauses, video, wav)
    return video, wav, [n / 25 for n in lengths]


# ---- timing ----------------------------------------------------------------------------------------------------
class PartTimer:
    """Seconds spent in the video front-end and in the whole encoder of a model. fairseq's search calls the encoder's
    ``forward`` directly (no module hooks run), so the instances' ``forward`` are wrapped."""

    def __init__(self, model) -> None:
        self.seconds = {"frontend": 0.0, "encoder_all": 0.0}
        self._wrap("frontend", model.encoder.w2v_model.feature_extractor_video)
        self._wrap("encoder_all", model.encoder)

    def _wrap(self, name: str, module) -> None:
        forward = module.forward

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return forward(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t0

        module.forward = timed

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.seconds, 0.0)


def run_once(transcriber, timer: PartTimer, video: str, wav: str) -> dict:
    """Transcribe the recording once: per-stage seconds, media seconds, the text."""
    timer.reset()
    segments = transcriber.transcribe(video=video, audio=wav, lip_video=True)
    st = transcriber.stats
    frontend = timer.seconds["frontend"]
    encoder = timer.seconds["encoder_all"] - frontend
    seconds = {
        "audio_decode": st.audio_decode,
        "vad": st.vad,
        "roi": st.roi,
        "features": st.features,
        "frontend": frontend,
        "encoder": encoder,
        "search": st.decode - frontend - encoder,
    }
    return {"media_s": st.media_s, "seconds": seconds, "segments": len(segments), "text": [s.text for s in segments]}


def summarise(runs: List[dict]) -> dict:
    """Median seconds per stage over repeats, as real-time factors, and the total."""
    media = runs[0]["media_s"]
    rtf = {k: round(statistics.median(r["seconds"][k] for r in runs) / media, 4) for k in STAGES}
    totals = [sum(r["seconds"].values()) for r in runs]
    rtf["total"] = round(statistics.median(totals) / media, 4)
    return {"rtf": rtf, "total_s": [round(t, 2) for t in totals], "segments": runs[0]["segments"]}


def speed(args, work: str) -> dict:
    """Section 1: every configuration on the same recording, interleaved."""
    import torch

    from avhubert_ami.decoding.recognizer import Recognizer
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.transcribe import Transcriber
    from avhubert_ami.transcribe.transcriber import TranscribeSettings

    ckpt_dir = os.path.join(work, "model")
    os.makedirs(ckpt_dir)
    t0 = time.perf_counter()
    ckpt = build_checkpoint(args.size, ckpt_dir, seed=args.seed)
    print(f"built a random {args.size} checkpoint in {time.perf_counter() - t0:.0f} s", flush=True)
    video, wav, lengths = make_recording(args.seconds, work, args.seed)
    configs = {BASELINE: ("fp32", False), **{p: (p, True) for p in args.precision}}
    transcribers, timers, applied = {}, {}, {}
    recognizers: Dict[str, object] = {}
    for name, (prec, by_length) in configs.items():
        key = "as-loaded" if name == BASELINE else prec
        if key not in recognizers:
            search = SearchSettings(
                beam=args.beam,
                batch_size=args.batch_size,
                max_len_a=args.max_len_a,
                max_len_b=args.max_len_b,
                ctc_weight=args.search_ctc_weight,
                precision=prec,
            )
            with contextlib.ExitStack() as stack:
                if name == BASELINE:  # the code before precisions: the model exactly as loaded
                    stack.enter_context(_unprepared_frontend())
                recognizers[key] = Recognizer.from_checkpoint(ckpt, search, device="cpu")
        r = recognizers[key]
        applied[name] = r.precision.record()
        transcribers[name] = Transcriber(r, TranscribeSettings(sort_by_length=by_length))
        timers[name] = timers.get(key) or PartTimer(r.models[0])
        timers[key] = timers[name]
    runs: Dict[str, List[dict]] = {name: [] for name in configs}
    skipped = {n: applied[n]["note"] for n in configs if n != BASELINE and applied[n]["used"] != configs[n][0]}
    names = [n for n in configs if n not in skipped]
    for n in skipped:
        print(f"{n}: {skipped[n]} (not timed: it would be fp32 again)", flush=True)
    for rep in range(args.repeats + 1):  # repeat 0 warms up (allocator, oneDNN primitives), not counted
        for name in names:
            res = run_once(transcribers[name], timers[name], video, wav)
            total = sum(res["seconds"].values())
            print(
                f"{'warm-up' if rep == 0 else f'repeat {rep}'} {name:16s} total {total:7.2f} s for "
                f"{res['media_s']:.1f} s (RTF {total / res['media_s']:.3f})",
                flush=True,
            )
            if rep:
                runs[name].append(res)
    out = {
        "recording_s": round(runs[BASELINE][0]["media_s"], 2),
        "utterance_lengths_s": [round(x, 2) for x in lengths],
        "search": {
            "beam": args.beam,
            "batch_size": args.batch_size,
            "max_len_a": args.max_len_a,
            "max_len_b": args.max_len_b,
            "ctc_weight": args.search_ctc_weight,
        },
        "threads": torch.get_num_threads(),
        "configs": {},
    }
    base_text = runs[BASELINE][0]["text"]
    for name in names:
        s = summarise(runs[name])
        s.update(precision=applied[name], sort_by_length=configs[name][1])
        s["same_text_as_baseline"] = runs[name][0]["text"] == base_text
        s["speed_up_over_baseline"] = round(out_total(runs[BASELINE]) / out_total(runs[name]), 3)
        out["configs"][name] = s
    out["not_run"] = skipped
    return out


@contextlib.contextmanager
def _unprepared_frontend():
    """Recognisers built meanwhile keep the ResNet front-end exactly as loaded (as before ``--precision``)."""
    from avhubert_ami.decoding import precision

    prepare = precision.prepare_frontend
    precision.prepare_frontend = lambda w2v: "as loaded (benchmark baseline)"
    try:
        yield
    finally:
        precision.prepare_frontend = prepare


def out_total(runs: List[dict]) -> float:
    """Median total processing seconds of a configuration."""
    return statistics.median(sum(r["seconds"].values()) for r in runs)


# ---- accuracy --------------------------------------------------------------------------------------------------
def accuracy(args, precisions: List[str]) -> dict:
    """Section 2: WER of ``--path`` on ``--split`` at fp32 and each precision."""
    from avhubert_ami.decoding.recognizer import Recognizer
    from avhubert_ami.decoding.settings import SearchSettings
    from avhubert_ami.decoding.split import SplitDecoder

    out = {"checkpoint": os.path.abspath(args.path), "data": os.path.abspath(args.data), "split": args.split}
    out["wer"], out["seconds"], out["precision"] = {}, {}, {}
    for prec in ["fp32"] + [p for p in precisions if p != "fp32"]:
        search = SearchSettings(beam=args.beam, batch_size=args.batch_size, ctc_weight=args.ctc_weight, precision=prec)
        r = Recognizer.from_checkpoint(args.path, search, data_dir=args.data, device="cpu")
        out["precision"][prec] = r.precision.record()
        if r.precision.used != prec:
            print(f"accuracy {prec}: {r.precision.note}", flush=True)
            continue
        t0 = time.perf_counter()
        res = SplitDecoder(r, args.data, args.split, args.normalizer).decode()
        out["seconds"][prec] = round(time.perf_counter() - t0, 1)
        out["wer"][prec] = round(res.wer, 2)
        out["ctc_weight"], out["normalizer"], out["n_utterances"] = res.ctc_weight, res.normalizer, res.n_utterances
        print(f"accuracy {prec}: {args.split} WER {res.wer:.2f} ({res.n_utterances} utterances)", flush=True)
    ref = out["wer"].get("fp32")
    out["allowed"] = {p: abs(w - ref) <= args.max_wer_delta for p, w in out["wer"].items()}
    out["max_wer_delta"] = args.max_wer_delta
    return out


# ---- the machine -----------------------------------------------------------------------------------------------
def machine() -> dict:
    """CPU, torch, load average and threading environment, for the record."""
    import torch

    from avhubert_ami.decoding.precision import cpu_features

    cpu = cpu_features()
    return {
        "cpu": cpu.model,
        "cpu_flags": sorted(cpu.flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni"}),
        "torch_cpu_capability": cpu.capability,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def commit() -> Optional[str]:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True)
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def face_roi(seconds: float, work: str) -> dict:
    """Section 3 (shared with benchmarks/transcribe_longform.py)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from transcribe_longform import face_roi_rtf

    return face_roi_rtf(seconds, work)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=["tiny", "base", "large"], default="base", help="random model's size")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the lip-clip recording")
    p.add_argument("--precision", nargs="+", default=["fp32", "int8", "bf16"], help="precisions to compare")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (after one warm-up)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--batch_size", type=int, default=8, help="segments decoded together")
    p.add_argument("--max_len_a", type=float, default=0.16, help="random model's length cap: tokens per frame")
    p.add_argument("--max_len_b", type=int, default=2)
    p.add_argument("--search_ctc_weight", type=float, default=0.3, help="joint search weight for the random model")
    p.add_argument("--path", default=None, help="trained checkpoint for the accuracy check (e.g. the demo's)")
    p.add_argument("--data", default=None, help="its manifest folder")
    p.add_argument("--split", default="test")
    p.add_argument("--ctc_weight", type=float, default=None, help="accuracy check's joint weight (default: ckpt's)")
    p.add_argument("--normalizer", default="basic")
    p.add_argument("--max_wer_delta", type=float, default=0.3, help="WER points a precision may lose to fp32")
    p.add_argument("--face_seconds", type=float, default=10.0, help="face video for the ROI stage (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON file (default: print only)")
    args = p.parse_args(argv)
    if bool(args.path) != bool(args.data):
        p.error("--path and --data go together")
    from avhubert_ami.decoding.precision import PRECISIONS

    bad = [x for x in args.precision if x not in PRECISIONS or x == "auto"]
    if bad:
        p.error(f"--precision {' '.join(bad)}: choose from fp32 int8 bf16")
    args.precision = ["fp32"] + [x for x in dict.fromkeys(args.precision) if x != "fp32"]
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("PIL", "matplotlib", "fairseq", "avhubert_ami"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    result = {
        "kind": "cpu_inference",
        "benchmark": "cpu_inference",
        "date": date.today().isoformat(),
        "command": "python benchmarks/cpu_inference.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": commit(),
        "size": args.size,
        "machine_before": machine(),
    }
    with tempfile.TemporaryDirectory(prefix="cpu_inference_") as work:
        result["speed"] = speed(args, work)
        if args.path:
            result["accuracy"] = accuracy(args, args.precision)
        else:
            result["accuracy"] = {"checked": False, "why": "no --path/--data: a random model has no accuracy"}
            print("accuracy not checked (no --path/--data): every precision counts as allowed", flush=True)
        if args.face_seconds > 0:
            result["face_roi"] = face_roi(args.face_seconds, work)
    result["machine_after"] = machine()
    result["machine"] = dict(result["machine_before"], load_average_1m=result["machine_before"]["load_average"][0])
    result["machine"]["load_average_1m_at_end"] = result["machine_after"]["load_average"][0]
    configs = result["speed"]["configs"]
    allowed = result["accuracy"].get("allowed") or {p: True for p in configs}
    candidates = [p for p in args.precision if p in configs and allowed.get(p, False)]
    best = min(candidates, key=lambda p: configs[p]["rtf"]["total"])
    result["best"] = {"precision": best, "speed_up": configs[best]["speed_up_over_baseline"]}
    for name, c in configs.items():
        stages = " ".join(f"{k} {v:.3f}" for k, v in c["rtf"].items())
        print(f"{name:16s} RTF {stages}  (x{c['speed_up_over_baseline']:.2f})")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        from avhubert_ami.files import atomic_write

        with atomic_write(args.out) as f:
            f.write(json.dumps(result, indent=1) + "\n")
        print(f"-> {args.out}")
    print(f"baseline: {BASELINE}; load average {result['machine_after']['load_average']} on {os.cpu_count()} cores")
    print(f"speed-up {result['best']['speed_up']:.2f}× at {best} over fp32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
