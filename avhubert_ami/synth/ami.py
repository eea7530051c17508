"""Generate a small, learnable, AMI-like audio-visual corpus as a Hugging Face dataset.

``avhubert-synth-ami --output_dir DIR [--seed S] [--n_train N --n_valid N --n_test N]
[--snr DB [--noise_type babble|white|mixed] [--noise_splits test]] [--write_noise]``

Writes to ``DIR`` (the dataset is ``DIR`` itself: ``datasets.load_from_disk(DIR)``, or
``avhubert-hf-to-manifest --dataset_name DIR``):

* ``dataset_dict.json`` + ``train/ validation/ test/`` -- columns ``audio`` (``datasets.Audio``,
  16 kHz mono WAV bytes), ``lip_video`` (path of the mouth clip, relative to ``DIR``),
  ``transcript``, ``utt_id``, ``speaker_id``;
* ``media/<split>/<utt_id>.avi`` -- 96x96 gray mouth clips at 25 fps, lossless FFV1;
* ``synth_config.json`` -- the generator settings used;
* with ``--write_noise``: ``noise/<split>/*.wav`` and ``noise/{train,valid,test}.tsv`` (one absolute
  wav path per line: upstream AV-HuBERT's ``task.noise_wav`` folder format).

Utterances are 2-10 word meeting phrases from a small stochastic grammar (:mod:`avhubert_ami.synth.grammar`;
``--text_mode words``: independent meeting words, the old mode) spoken by synthetic speakers; audio and lips are
rendered
from the same phone timeline, so both carry the words and are time aligned
(``len(audio) == n_video_frames * 640``). Valid/test speakers are held out from train by default.
Everything is a function of ``--seed``: the same seed gives byte-identical files, and ``--snr``
changes only the audio (noise comes from its own random stream).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import multiprocessing as mp
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from avhubert_ami.synth.audio import SAMPLE_RATE, SAMPLES_PER_FRAME, synthesize
from avhubert_ami.synth.grammar import TEXT_MODES, check_length_bounds, sample_text
from avhubert_ami.synth.lexicon import WORDS
from avhubert_ami.synth.noise import NOISE_TYPES, babble, mix_at_snr, white
from avhubert_ami.synth.speakers import Speaker, sample_speaker, utterance_timeline
from avhubert_ami.synth.video import NoiseBank, render, viseme_tracks

logger = logging.getLogger("synth_ami")

SPLITS = ("train", "validation", "test")
NOISE_LIST_NAME = {"train": "train", "validation": "valid", "test": "test"}  # fairseq subset names
_SPLIT_CODE = {s: i for i, s in enumerate(SPLITS)}


@dataclass
class SynthConfig:
    """Every knob of the generator (the CLI maps onto these fields)."""

    seed: int = 0
    n_train: int = 1000
    n_valid: int = 100
    n_test: int = 100
    n_speakers: int = 12  # corpus speakers; babble uses others
    heldout_speakers: int = 2  # speakers reserved for each of validation and test (0: shared speakers)
    min_words: int = 2
    max_words: int = 10
    text_mode: str = "grammar"  # grammar: meeting phrases with word order; words: independent words
    snr: Optional[float] = None  # dB; None = clean audio
    noise_type: str = "babble"
    noise_splits: Tuple[str, ...] = SPLITS  # splits that --snr corrupts
    write_noise: bool = False
    n_noise_files: int = 8  # per split, for --snr mixing and --write_noise
    noise_seconds: float = 6.0
    babble_speakers: int = 8
    babble_talkers: int = 4
    splits: Tuple[str, ...] = SPLITS  # splits to generate
    workers: int = 2

    def n_for(self, split: str) -> int:
        return {"train": self.n_train, "validation": self.n_valid, "test": self.n_test}[split]

    def validate(self) -> None:
        """Raise ValueError for inconsistent settings."""
        for s in tuple(self.splits) + tuple(self.noise_splits):
            if s not in SPLITS:
                raise ValueError(f"unknown split {s!r}; choose from {', '.join(SPLITS)}")
        if self.noise_type not in NOISE_TYPES:
            raise ValueError(f"--noise_type must be one of {', '.join(NOISE_TYPES)}, got {self.noise_type!r}")
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError(f"need 1 <= min_words <= max_words, got {self.min_words}, {self.max_words}")
        if self.text_mode not in TEXT_MODES:
            raise ValueError(f"--text_mode must be one of {', '.join(TEXT_MODES)}, got {self.text_mode!r}")
        if self.text_mode == "grammar":
            check_length_bounds(self.min_words, self.max_words)
        if self.n_speakers - 2 * self.heldout_speakers < 1:
            raise ValueError(
                f"--n_speakers {self.n_speakers} leaves no training speaker after holding out "
                f"2 x {self.heldout_speakers}; raise --n_speakers or lower --heldout_speakers"
            )
        if min(self.n_train, self.n_valid, self.n_test) < 0 or self.workers < 1:
            raise ValueError("utterance counts must be >= 0 and --num_workers >= 1")


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def corpus_speakers(cfg: SynthConfig) -> List[Speaker]:
    rng = _rng(cfg.seed, 1000)
    return [sample_speaker(f"S{i:02d}", rng) for i in range(cfg.n_speakers)]


def babble_speakers(cfg: SynthConfig) -> List[Speaker]:
    rng = _rng(cfg.seed, 2000)
    return [sample_speaker(f"B{i:02d}", rng) for i in range(cfg.babble_speakers)]


def split_speakers(cfg: SynthConfig, speakers: Sequence[Speaker]) -> Dict[str, List[Speaker]]:
    """Train speakers first; the last ``2 * heldout`` go to validation then test."""
    k = cfg.heldout_speakers
    if k == 0:
        return {s: list(speakers) for s in SPLITS}
    n = len(speakers)
    return {
        "train": list(speakers[: n - 2 * k]),
        "validation": list(speakers[n - 2 * k : n - k]),
        "test": list(speakers[n - k :]),
    }


def noise_pool(cfg: SynthConfig, split: str) -> List[Tuple[str, np.ndarray]]:
    """The split's noise recordings ``[(name, wave)]``: babble and/or white, per ``noise_type``."""
    rng = _rng(cfg.seed, 3000, _SPLIT_CODE[split])
    n = int(cfg.noise_seconds * SAMPLE_RATE)
    kinds = ("babble", "white") if cfg.noise_type == "mixed" else (cfg.noise_type,)
    spk = babble_speakers(cfg)
    pool = []
    for i in range(cfg.n_noise_files):
        kind = kinds[i % len(kinds)]
        wave = babble(spk, n, cfg.babble_talkers, rng) if kind == "babble" else white(n, rng)
        pool.append((f"{kind}_{i:03d}", wave))
    return pool


def wav_bytes(wave: np.ndarray) -> bytes:
    """16-bit PCM WAV file bytes for a 16 kHz mono wave."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# ---------------------------------------------------------------- per-utterance work (workers)
_STATE: dict = {}


def _init_worker(cfg: SynthConfig, out_dir: str, pools: Dict[str, List[np.ndarray]]) -> None:
    _STATE.update(cfg=cfg, out_dir=out_dir, pools=pools, bank=NoiseBank(cfg.seed))


def make_utterance(split: str, index: int, speaker: Speaker) -> dict:
    """Synthesize one utterance, write its video, return the dataset row (audio as WAV bytes)."""
    from avhubert_ami.data.video import write_video

    cfg: SynthConfig = _STATE["cfg"]
    words_rng, audio_rng, video_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([cfg.seed, _SPLIT_CODE[split], index]).spawn(4)
    )
    words = sample_text(words_rng, cfg.text_mode, cfg.min_words, cfg.max_words)
    timeline, _ = utterance_timeline(words, speaker, words_rng)
    n_frames = sum(n for _, n in timeline)
    wave = synthesize(timeline, speaker.voice, audio_rng)
    pool = _STATE["pools"].get(split)
    if cfg.snr is not None and pool:
        wave = mix_at_snr(wave, pool[int(noise_rng.integers(len(pool)))], cfg.snr, noise_rng)
    assert len(wave) == n_frames * SAMPLES_PER_FRAME
    frames = render(viseme_tracks(timeline), speaker.face, video_rng, _STATE["bank"])
    utt_id = f"SYN_{split}_{speaker.name}_{index:05d}"
    rel = os.path.join("media", split, utt_id + ".avi")
    write_video(os.path.join(_STATE["out_dir"], rel), frames, fps=25.0, codec="ffv1")
    return {
        "utt_id": utt_id,
        "speaker_id": speaker.name,
        "transcript": " ".join(words),
        "lip_video": rel,
        "audio": {"bytes": wav_bytes(wave), "path": utt_id + ".wav"},
    }


def _make(job: Tuple[str, int, Speaker]) -> dict:
    return make_utterance(*job)


def _quiet_root_logger() -> None:
    """``import fairseq`` (pulled in by ``avhubert_ami``) leaves the root logger at DEBUG, which
    floods the console with fsspec/datasets chatter; keep third-party logs at WARNING."""
    root = logging.getLogger()
    if root.level < logging.INFO:
        root.setLevel(logging.WARNING)


# ---------------------------------------------------------------- corpus
def _write_noise_files(cfg: SynthConfig, out_dir: str, pools: Dict[str, List[Tuple[str, np.ndarray]]]) -> None:
    from avhubert_ami.data.audio import write_audio
    from avhubert_ami.files import atomic_write

    for split, pool in pools.items():
        paths = []
        for name, wave in pool:
            path = os.path.abspath(os.path.join(out_dir, "noise", split, name + ".wav"))
            write_audio(path, wave, SAMPLE_RATE)
            paths.append(path)
        with atomic_write(os.path.join(out_dir, "noise", NOISE_LIST_NAME[split] + ".tsv"), "w") as f:
            f.write("".join(p + "\n" for p in paths))


def generate(cfg: SynthConfig, out_dir: str, progress: bool = True):
    """Generate the corpus into ``out_dir``; returns the saved ``datasets.DatasetDict``."""
    import datasets
    from tqdm import tqdm

    from avhubert_ami.data.video import write_video  # noqa: F401  (import once, before workers fork)
    from avhubert_ami.files import atomic_write

    _quiet_root_logger()

    cfg.validate()
    if not progress:
        datasets.disable_progress_bars()
    os.makedirs(out_dir, exist_ok=True)
    by_split = split_speakers(cfg, corpus_speakers(cfg))
    need_pool = set(cfg.splits) & set(cfg.noise_splits) if cfg.snr is not None else set()
    pool_splits = sorted(need_pool | (set(SPLITS) if cfg.write_noise else set()), key=SPLITS.index)
    pools = {s: noise_pool(cfg, s) for s in tqdm(pool_splits, desc="noise", disable=not progress or not pool_splits)}
    if cfg.write_noise:
        _write_noise_files(cfg, out_dir, pools)
    mix_pools = {s: [w for _, w in pools[s]] for s in need_pool}

    jobs = [(s, i, by_split[s][i % len(by_split[s])]) for s in cfg.splits for i in range(cfg.n_for(s))]
    bar = tqdm(total=len(jobs), desc="synth utterances", unit="utt", disable=not progress)
    rows: List[dict] = []
    if cfg.workers > 1 and len(jobs) > 1:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(cfg, out_dir, mix_pools)) as pool:
            for row in pool.imap(_make, jobs, chunksize=4):
                rows.append(row)
                bar.update()
    else:
        _init_worker(cfg, out_dir, mix_pools)
        for job in jobs:
            rows.append(_make(job))
            bar.update()
    bar.close()

    features = datasets.Features(
        {
            "utt_id": datasets.Value("string"),
            "speaker_id": datasets.Value("string"),
            "transcript": datasets.Value("string"),
            "lip_video": datasets.Value("string"),
            "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
        }
    )
    dd = {}
    for s in cfg.splits:
        part = [r for r in rows if r["utt_id"].startswith(f"SYN_{s}_")]
        cols = {k: [r[k] for r in part] for k in features}
        ds = datasets.Dataset.from_dict(cols, features=features)
        dd[s] = ds.cast_column("audio", datasets.Audio(sampling_rate=SAMPLE_RATE))
    dsd = datasets.DatasetDict(dd)
    dsd.save_to_disk(out_dir)
    with atomic_write(os.path.join(out_dir, "synth_config.json"), "w") as f:
        json.dump(
            {
                "config": dataclasses.asdict(cfg),
                "vocabulary": list(WORDS),
                "speakers": {s: [p.name for p in v] for s, v in by_split.items()},
            },
            f,
            indent=1,
        )
    return dsd
