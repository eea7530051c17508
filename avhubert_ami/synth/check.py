"""Learnability self-check of the synthetic corpus: do audio and lips both carry the words?

``avhubert-synth-check [--seed S] [--tokens K] [--snrs 10 5 0 -5]``

Synthesizes isolated words (``--tokens`` per word and speaker, the generator's own speakers),
then classifies them with a nearest-centroid rule, leave-one-speaker-out (centroids from the
other speakers): audio from time-normalised log-mel filterbanks (26 x 16 steps), video from
time-normalised 22x22 mouth frames (88x88 centre crop, 4x average-pooled, 8 steps, with the
token's first (rest-pose) frame subtracted to remove the speaker's appearance). Audio is also
scored with test words mixed with babble at each ``--snrs`` value (centroids stay clean).
Prints the accuracies; chance is 1 / vocabulary size.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from avhubert_ami.synth.ami import SynthConfig, babble_speakers, corpus_speakers
from avhubert_ami.synth.audio import SAMPLE_RATE, SAMPLES_PER_FRAME, synthesize
from avhubert_ami.synth.lexicon import WORDS
from avhubert_ami.synth.noise import babble, mix_at_snr
from avhubert_ami.synth.speakers import word_timeline
from avhubert_ami.synth.video import NoiseBank, render, viseme_tracks


def _resample(x: np.ndarray, n: int) -> np.ndarray:
    """Linear time-resampling of ``(T, ...)`` to ``(n, ...)``."""
    pos = np.linspace(0, len(x) - 1, n)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[lo] * (1 - w) + x[hi] * w


def audio_features(wave: np.ndarray, start: int, end: int) -> np.ndarray:
    """Log-mel (26) of the word's frames ``[start, end)`` (video-frame units), 16 steps, flat."""
    from python_speech_features import logfbank

    seg = wave[start * SAMPLES_PER_FRAME : end * SAMPLES_PER_FRAME]
    return _resample(logfbank(seg, SAMPLE_RATE, nfilt=26), 16).ravel()


def video_features(frames: np.ndarray, start: int, end: int) -> np.ndarray:
    """Centre-cropped 88x88 frames pooled to 22x22, minus the rest frame, 8 steps, flat."""
    crop = frames[:, 4:92, 4:92].astype(np.float32).reshape(len(frames), 22, 4, 22, 4).mean(axis=(2, 4))
    return _resample(crop[start:end] - crop[0], 8).ravel()


def nearest_centroid_loso(
    feats: np.ndarray, labels: np.ndarray, speakers: np.ndarray, test_feats: Optional[np.ndarray] = None
) -> float:
    """Leave-one-speaker-out nearest-centroid accuracy (features standardised on the training fold)."""
    test_feats = feats if test_feats is None else test_feats
    correct = 0
    classes = np.unique(labels)
    for spk in np.unique(speakers):
        tr, te = speakers != spk, speakers == spk
        mu, sd = feats[tr].mean(0), feats[tr].std(0) + 1e-6
        cents = np.stack([((feats[tr & (labels == c)] - mu) / sd).mean(0) for c in classes])
        x = (test_feats[te] - mu) / sd
        d = (x**2).sum(1)[:, None] - 2 * x @ cents.T + (cents**2).sum(1)[None]
        correct += int((classes[d.argmin(1)] == labels[te]).sum())
    return correct / len(labels)


def run_check(cfg: SynthConfig, tokens: int, snrs: Sequence[float]) -> Dict[str, float]:
    """Accuracies ``{"audio_clean", "video", "audio_snr<db>", ..., "chance"}``."""
    from tqdm import tqdm

    rng = np.random.default_rng([cfg.seed, 4000])
    speakers = corpus_speakers(cfg)
    noise = babble(babble_speakers(cfg), 20 * SAMPLE_RATE, cfg.babble_talkers, rng)
    bank = NoiseBank(cfg.seed)
    a_feats, v_feats, labels, spk_ids = [], [], [], []
    noisy: Dict[float, List[np.ndarray]] = {s: [] for s in snrs}
    jobs = [(si, wi) for si in range(len(speakers)) for wi in range(len(WORDS)) for _ in range(tokens)]
    for si, wi in tqdm(jobs, desc="isolated words", unit="word"):
        spk = speakers[si]
        tl = [("sil", 2)] + word_timeline(WORDS[wi], spk, rng) + [("sil", 2)]
        n = sum(d for _, d in tl)
        wave = synthesize(tl, spk.voice, rng)
        frames = render(viseme_tracks(tl), spk.face, rng, bank)
        a_feats.append(audio_features(wave, 2, n - 2))
        v_feats.append(video_features(frames, 1, n - 1))
        for s in snrs:
            noisy[s].append(audio_features(mix_at_snr(wave, noise, s, rng), 2, n - 2))
        labels.append(wi)
        spk_ids.append(si)
    a, v = np.stack(a_feats), np.stack(v_feats)
    lab, spk = np.asarray(labels), np.asarray(spk_ids)
    out = {
        "chance": 1.0 / len(WORDS),
        "audio_clean": nearest_centroid_loso(a, lab, spk),
        "video": nearest_centroid_loso(v, lab, spk),
    }
    for s in snrs:
        out[f"audio_snr{s:g}"] = nearest_centroid_loso(a, lab, spk, np.stack(noisy[s]))
    return out
