"""Synthetic AMI-like corpus generator: determinism, formats, alignment, noise, learnability."""

import os

import numpy as np
import pytest

from avhubert_ami.cli import synth_ami
from avhubert_ami.synth.ami import SynthConfig, corpus_speakers
from avhubert_ami.synth.audio import SAMPLES_PER_FRAME, Voice, synthesize
from avhubert_ami.synth.lexicon import LEXICON, PHONES, VISEMES, WORDS, viseme_collisions
from tests.support.files import folder_digest

TINY = [
    "--n_train",
    "4",
    "--n_valid",
    "2",
    "--n_test",
    "2",
    "--n_speakers",
    "6",
    "--heldout_speakers",
    "1",
    "--workers",
    "1",
    "--quiet",
    "--n_noise_files",
    "2",
]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    paths = {k: str(base / k) for k in ("a", "b", "seed1", "noisy")}
    assert synth_ami.main(["--output_dir", paths["a"], "--seed", "3", "--write_noise"] + TINY) == 0
    assert synth_ami.main(["--output_dir", paths["b"], "--seed", "3", "--write_noise"] + TINY) == 0
    assert synth_ami.main(["--output_dir", paths["seed1"], "--seed", "1"] + TINY) == 0
    assert synth_ami.main(["--output_dir", paths["noisy"], "--seed", "3", "--snr", "0"] + TINY) == 0
    return paths


def _rows(path, split):
    import datasets

    ds = datasets.load_from_disk(path)[split].cast_column("audio", datasets.Audio(decode=False))
    return [ds[i] for i in range(len(ds))]


def test_same_seed_gives_identical_bytes(corpora):
    a, b = folder_digest(corpora["a"]), folder_digest(corpora["b"])
    # noise list files hold absolute paths, which differ between the two output folders
    a = {k: v for k, v in a.items() if not k.endswith(".tsv")}
    b = {k: v for k, v in b.items() if not k.endswith(".tsv")}
    assert a == b
    assert any(k.endswith(".avi") for k in a) and any(k.endswith(".arrow") for k in a)


def test_other_seed_differs(corpora):
    ta = [r["transcript"] for r in _rows(corpora["a"], "train")]
    t1 = [r["transcript"] for r in _rows(corpora["seed1"], "train")]
    assert ta != t1


def test_dataset_format_and_alignment(corpora):
    import soundfile as sf

    from avhubert_ami.data.video import probe_video, read_video

    root = corpora["a"]
    import datasets

    dsd = datasets.load_from_disk(root)
    assert set(dsd) == {"train", "validation", "test"}
    assert isinstance(dsd["train"].features["audio"], datasets.Audio)
    speakers = {}
    for split, n in (("train", 4), ("validation", 2), ("test", 2)):
        rows = _rows(root, split)
        assert len(rows) == n
        for r in rows:
            wave, sr = sf.read(__import__("io").BytesIO(r["audio"]["bytes"]), dtype="float32")
            assert sr == 16000 and wave.ndim == 1
            assert not os.path.isabs(r["lip_video"])
            vpath = os.path.join(root, r["lip_video"])
            info = probe_video(vpath)
            assert (info.fps, info.height, info.width) == (25.0, 96, 96)
            assert len(wave) == info.n_frames * SAMPLES_PER_FRAME
            words = r["transcript"].split()
            assert 2 <= len(words) <= 10 and set(words) <= set(WORDS)
            frames = read_video(vpath)
            assert frames.shape == (info.n_frames, 96, 96) and frames.std() > 5  # not blank
            assert np.abs(wave).max() > 0.05
            speakers.setdefault(split, set()).add(r["speaker_id"])
    assert len(speakers["train"]) > 1  # several speakers
    assert not speakers["train"] & (speakers["validation"] | speakers["test"])  # held out


def test_speakers_differ():
    spk = corpus_speakers(SynthConfig(seed=0))
    assert len({(s.voice, s.face) for s in spk}) == len(spk)
    f0 = [s.voice.f0 for s in spk]
    width = [s.face.half_width for s in spk]
    assert max(f0) / min(f0) > 1.5 and max(width) - min(width) > 2.0


def test_snr_changes_audio_not_video(corpora):
    clean, noisy = _rows(corpora["a"], "test"), _rows(corpora["noisy"], "test")
    assert [r["transcript"] for r in clean] == [r["transcript"] for r in noisy]
    for c, n in zip(clean, noisy):
        assert c["audio"]["bytes"] != n["audio"]["bytes"]
        assert len(c["audio"]["bytes"]) == len(n["audio"]["bytes"])
        va = open(os.path.join(corpora["a"], c["lip_video"]), "rb").read()
        vn = open(os.path.join(corpora["noisy"], n["lip_video"]), "rb").read()
        assert va == vn


def test_noise_files_written(corpora):
    from avhubert_ami.data.audio import read_audio

    for name in ("train", "valid", "test"):
        lines = open(os.path.join(corpora["a"], "noise", name + ".tsv")).read().split()
        assert len(lines) == 2
        for p in lines:
            assert os.path.isabs(p) and len(read_audio(p)) > 16000


def test_snr_level():
    from avhubert_ami.synth.noise import mix_at_snr

    rng = np.random.default_rng(0)
    clean = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    noise = rng.standard_normal(8000).astype(np.float32)
    mixed = mix_at_snr(clean, noise, 5.0, rng)
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((mixed - clean).astype(np.float64) ** 2))
    assert abs(snr - 5.0) < 0.05


def test_lexicon_is_lip_readable_and_complete():
    assert 30 <= len(WORDS) <= 60
    assert viseme_collisions() == []
    for w, phones in LEXICON.items():
        assert all(p in PHONES for p in phones), w
    assert {p.viseme for p in PHONES.values()} <= set(VISEMES)


def test_audio_length_is_exact():
    voice = Voice(f0=120, formant_scale=1.0, breathiness=0.3, tilt=1.0, gain_db=-20)
    tl = [("sil", 2), ("s", 2), ("aa", 3), ("t", 2), ("sil", 1)]
    wave = synthesize(tl, voice, np.random.default_rng(0))
    assert wave.dtype == np.float32 and len(wave) == 10 * SAMPLES_PER_FRAME
    assert np.all(np.isfinite(wave)) and np.abs(wave).max() <= 1.0


def test_bad_config_is_rejected(tmp_path, capsys):
    assert synth_ami.main(["--output_dir", str(tmp_path), "--n_speakers", "2", "--heldout_speakers", "1"]) == 2
    assert "n_speakers" in capsys.readouterr().err
    assert synth_ami.main(["--output_dir", str(tmp_path), "--min_words", "5", "--max_words", "2"]) == 2


def test_both_modalities_carry_the_words():
    """Nearest-centroid proxy, leave-one-speaker-out: audio >> chance, video clearly > chance,
    heavy babble hurts audio."""
    from avhubert_ami.synth.check import run_check

    res = run_check(SynthConfig(seed=0, n_speakers=4), tokens=1, snrs=[-5.0])
    assert res["audio_clean"] > 0.6
    assert res["video"] > 4 * res["chance"]
    assert res["audio_snr-5"] < res["audio_clean"] - 0.3
