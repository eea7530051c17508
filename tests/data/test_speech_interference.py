"""Interfering speech: another training utterance mixed into the audio (task.interference_prob/_snr)."""

import os

import numpy as np
import pytest
import sentencepiece as spm
import soundfile as sf
import torch
from fairseq import tasks
from fairseq.data import Dictionary
from omegaconf import OmegaConf

import avhubert_ami.data.dataset as dataset_module
import avhubert_ami.data.noise as noise_module
from avhubert_ami.data.audio import read_audio, write_audio
from avhubert_ami.data.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from avhubert_ami.data.dataset import AVHubertDataset, DataOptions
from avhubert_ami.data.features import audio_features, fbank_path
from avhubert_ami.data.manifest import load_split, write_tsv, write_wrd
from avhubert_ami.data.noise import NoiseMixer, SpeechInterference, parse_snr
from avhubert_ami.data.utterance_ids import utterance_speaker
from avhubert_ami.data.video import write_video
from avhubert_ami.errors import UsageError
from avhubert_ami.tasks.ami_av import AMIAVConfig
from avhubert_ami.testing.media import make_frames
from avhubert_ami.testing.tiny_data import SENTENCES, train_spm
from avhubert_ami.training.flags import parse_args
from tests.support.training import guide_overrides

# (id, video frames, tone Hz, amplitude): each utterance is one pure tone, so a spectrum tells which
# utterances a mixture holds and how loud each is. Lengths are whole seconds and tones whole Hz, so any
# crop or loop of a tone is a whole number of cycles: one FFT bin each, no leakage.
UTTS = [
    ("ES2002a_MEE001_0000100_0000200", 25, 300, 0.20),
    ("ES2002a_MEE001_0000300_0000500", 50, 440, 0.15),
    ("ES2002a_MEE001_0000600_0000700", 25, 520, 0.10),
    ("ES2002a_FEE002_0000800_0000900", 25, 660, 0.25),
    ("ES2002a_FEE002_0001000_0001200", 50, 780, 0.20),
    ("ES2002a_MEO003_0001300_0001400", 25, 900, 0.12),
]
TONES = [f for _, _, f, _ in UTTS]
NOISE_HZ = (1500, 1700)


def tone(n_samples: int, hz: float, amp: float) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(n_samples) / SAMPLE_RATE)).astype(np.float32)


def power(wave: np.ndarray, hz: float) -> float:
    """Mean power of the ``hz`` tone in ``wave`` (a whole number of its cycles long)."""
    spectrum = np.fft.rfft(np.asarray(wave, dtype=np.float64))
    return 2 * abs(spectrum[int(round(hz * len(wave) / SAMPLE_RATE))]) ** 2 / len(wave) ** 2


def write_split(folder: str, split: str, utts=UTTS) -> None:
    media = os.path.join(folder, "media")
    os.makedirs(media, exist_ok=True)
    entries = []
    for i, (uid, frames, hz, amp) in enumerate(utts):
        n = frames * SAMPLES_PER_FRAME
        write_video(os.path.join(media, f"{uid}.mkv"), make_frames(frames, i))
        write_audio(os.path.join(media, f"{uid}.wav"), tone(n, hz, amp))
        entries.append((uid, f"media/{uid}.mkv", f"media/{uid}.wav", frames, n))
    write_tsv(os.path.join(folder, f"{split}.tsv"), folder, entries)
    write_wrd(os.path.join(folder, f"{split}.wrd"), SENTENCES[: len(utts)])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("interference"))
    write_split(d, "train")
    write_split(d, "valid")
    train_spm(d, SENTENCES)
    for hz in NOISE_HZ:
        write_audio(os.path.join(d, f"noise{hz}.wav"), tone(SAMPLE_RATE, hz, 0.1))
    return d


def build(folder, split="train", noise=None, **kw):
    manifest, texts = load_split(folder, split)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "spm.model"))
    enc = lambda t: " ".join(sp.encode(t, out_type=str))  # noqa: E731
    opts = DataOptions(**{"train": True, "image_aug": True, **kw})
    return AVHubertDataset(manifest, texts, Dictionary.load(os.path.join(folder, "dict.wrd.txt")), enc, opts, noise)


@pytest.fixture
def waves(monkeypatch):
    """The waves the dataset turns into features, in call order."""
    seen = []
    real = dataset_module.audio_features

    def spy(wave, *args, **kwargs):
        seen.append(np.array(wave, copy=True))
        return real(wave, *args, **kwargs)

    monkeypatch.setattr(dataset_module, "audio_features", spy)
    return seen


def wav_of(data, i):
    return read_audio(os.path.join(data, "media", f"{UTTS[i][0]}.wav"))


def speaker(i):
    return utterance_speaker(UTTS[i][0])


# ---- off by default -------------------------------------------------------------------------------------------
def test_off_by_default_features_are_the_clean_wave(data, waves):
    assert AMIAVConfig.interference_prob == 0.0 and DataOptions().interference_prob == 0.0
    ds = build(data)
    assert ds.interference is None
    for i in range(len(UTTS)):
        item = ds[i]
        assert np.array_equal(waves[-1], wav_of(data, i))
        assert torch.equal(item["audio"], audio_features(wav_of(data, i), n_frames=UTTS[i][1], normalize=True))
    # a config saved before these options existed (an older checkpoint's) loads with them off
    task = tasks.setup_task(OmegaConf.create({"_name": "ami_av", "data": data}))
    assert task.cfg.interference_prob == 0.0 and task.cfg.interference_snr == "0,10"
    task.load_dataset("train")
    assert task.dataset("train").interference is None


# ---- the mixture ----------------------------------------------------------------------------------------------
def test_mix_is_target_plus_other_utterance_at_the_drawn_snr(data):
    paths = [os.path.join(data, "media", f"{u[0]}.wav") for u in UTTS]
    mixer = SpeechInterference(paths, [speaker(i) for i in range(len(UTTS))], prob=1.0, snr="0,10")
    snrs, starts = [], set()
    for seed in range(40):
        i = seed % len(UTTS)
        target = wav_of(data, i)
        mixed, info = mixer.maybe_mix(target, i, np.random.default_rng(seed))
        assert info is not None and info.index != i and speaker(info.index) != speaker(i)
        other = wav_of(data, info.index)
        segment = np.tile(other, 2)[info.start : info.start + len(target)]  # cropped, or looped when shorter
        added = mixed - target
        gain = float(added @ segment / (segment @ segment))
        assert np.allclose(added, gain * segment, atol=1e-6)  # the target untouched, plus the scaled interferer
        measured = 20 * np.log10(np.sqrt(np.mean(target**2)) / np.sqrt(np.mean((gain * segment) ** 2)))
        assert measured == pytest.approx(info.snr_db, abs=0.1) and 0.0 <= info.snr_db <= 10.0
        snrs.append(info.snr_db)
        if len(other) > len(target):
            starts.add(info.start)
    assert np.std(snrs) > 1.0 and len(starts) > 3  # drawn anew: SNR over the range, crops from anywhere


def test_dataset_mixes_another_speaker_before_features_and_keeps_the_video(data, waves):
    clean = build(data, seed=5)
    mixed = build(data, seed=5, interference_prob=1.0, interference_snr="7")
    assert len(mixed.interference) == len(UTTS)
    for i in range(len(UTTS)):
        off, on = clean[i], mixed[i]
        wave = waves[-1]
        present = [j for j, hz in enumerate(TONES) if power(wave, hz) > 1e-6]
        assert len(present) == 2 and i in present  # the target and exactly one other utterance
        j = next(j for j in present if j != i)
        assert speaker(j) != speaker(i)
        assert 10 * np.log10(power(wave, TONES[i]) / power(wave, TONES[j])) == pytest.approx(7.0, abs=0.1)
        assert power(wave, TONES[i]) == pytest.approx(UTTS[i][3] ** 2 / 2, rel=1e-3)  # the target at its own level
        assert torch.equal(on["video"], off["video"])  # the lips still tell which voice is the target
        assert not torch.allclose(on["audio"], off["audio"])


def test_noise_goes_on_top_of_both_voices_with_unchanged_draws(data, waves):
    """Order: interfering speech first, then noise at noise_snr relative to the two voices together; the
    interference draws come from a stream of their own, so the noise file, noise SNR and crops stay as they were."""

    def noise_draws(**kw):
        mixer = NoiseMixer([os.path.join(data, f"noise{hz}.wav") for hz in NOISE_HZ], prob=1.0, snr="-5,5")
        ds = build(data, noise=mixer, seed=3, **kw)
        out = []
        for i in range(len(UTTS)):
            video = ds[i]["video"]
            wave = waves[-1]
            (hz,) = [hz for hz in NOISE_HZ if power(wave, hz) > 1e-6]
            voices = sum(power(wave, f) for f in TONES)
            out.append((hz, 10 * np.log10(voices / power(wave, hz)), video))
        return out

    alone = noise_draws()
    assert len({hz for hz, _, _ in alone}) == 2 and np.ptp([snr for _, snr, _ in alone]) > 1  # draws that differ
    for (hz, snr, video), (hz_both, snr_both, video_both) in zip(
        alone, noise_draws(interference_prob=1.0, interference_snr="3")
    ):
        assert hz_both == hz and snr_both == pytest.approx(snr, abs=0.1) and torch.equal(video_both, video)


def test_only_the_training_split(data, waves):
    assert build(data, train=False, interference_prob=1.0).interference is None
    task = tasks.setup_task(OmegaConf.create({"_name": "ami_av", "data": data, "interference_prob": 1.0}))
    task.load_dataset("train")
    task.load_dataset("valid")
    assert task.dataset("train").interference is not None and task.dataset("valid").interference is None
    task.dataset("valid")[0]
    assert np.array_equal(waves[-1], wav_of(data, 0))


def test_deterministic_per_seed_and_epoch(data):
    def audio(seed, epoch):
        ds = build(data, seed=seed, interference_prob=0.5)
        ds.set_epoch(epoch)
        return [ds[i]["audio"] for i in range(len(UTTS))]

    first = audio(1, 3)
    assert all(torch.equal(a, b) for a, b in zip(first, audio(1, 3)))
    assert not all(torch.equal(a, b) for a, b in zip(first, audio(1, 4)))
    assert not all(torch.equal(a, b) for a, b in zip(first, audio(2, 3)))


def test_precomputed_features_give_way_to_the_wave(tmp_path, waves):
    """Features precomputed from the clean wave cannot carry the interferer: training reads the wav."""
    d = str(tmp_path)
    write_split(d, "train", UTTS[2:4])
    train_spm(d, SENTENCES)
    for uid, frames, _, _ in UTTS[2:4]:
        np.save(fbank_path(os.path.join(d, "media", f"{uid}.wav")), np.ones((frames, 104), dtype=np.float32))
    build(d)[0]
    assert waves == []  # off: the precomputed features stand in for the wave
    build(d, interference_prob=1.0)[0]
    assert len(waves) == 1 and power(waves[0], TONES[3]) > 1e-6


# ---- which utterance interferes -------------------------------------------------------------------------------
def drawn(mixer, index, n=300):
    return {mixer.draw_other(index, np.random.default_rng(s)) for s in range(n)}


def test_speaker_from_ami_and_synthetic_ids():
    assert utterance_speaker("ES2002a_MEE006_0000050_0000170") == "MEE006"
    assert utterance_speaker("SYN_train_S03_00012") == "S03"
    assert utterance_speaker("train_000") is None and utterance_speaker("ES2002a_MEE006_50_170") is None


def test_another_speaker_when_ids_tell_else_any_other_utterance():
    ids = [u[0] for u in UTTS]
    mixer = SpeechInterference([f"/a/{u}.wav" for u in ids], [utterance_speaker(u) for u in ids], prob=1.0)
    assert drawn(mixer, 0) == {3, 4, 5} and drawn(mixer, 3) == {0, 1, 2, 5} and drawn(mixer, 5) == {0, 1, 2, 3, 4}
    # ids without a speaker: any other row, but never one of the same audio file
    anon = SpeechInterference(["/a.wav", "/b.wav", "/a.wav", "/c.wav", None], [None] * 5, prob=1.0)
    assert drawn(anon, 0) == {1, 3} and drawn(anon, 1) == {0, 2, 3} and len(anon) == 4
    # one speaker throughout: any other row of it
    solo = SpeechInterference(["/a.wav", "/b.wav", "/c.wav"], ["S1"] * 3, prob=1.0)
    assert drawn(solo, 1) == {0, 2}
    assert SpeechInterference(["/a.wav"], ["S1"], prob=1.0).draw_other(0, np.random.default_rng(0)) is None


def test_reads_only_the_needed_slice_of_a_16k_wav(data, monkeypatch, tmp_path):
    def no_full_read(*args, **kwargs):
        raise AssertionError("read the whole interfering file")

    paths = [os.path.join(data, "media", f"{u[0]}.wav") for u in UTTS]
    mixer = SpeechInterference(paths, [speaker(i) for i in range(len(UTTS))], prob=1.0)
    with monkeypatch.context() as m:
        m.setattr(noise_module, "read_audio", no_full_read)
        for seed in range(10):
            assert mixer.maybe_mix(wav_of(data, 0), 0, np.random.default_rng(seed))[1] is not None
    # another rate goes through read_audio (and its resampling option)
    slow = str(tmp_path / "8k.wav")
    sf.write(slow, tone(8000, 300, 0.2), 8000)
    mixer = SpeechInterference([paths[0], slow], [None, None], prob=1.0, resample=True)
    mixed, info = mixer.maybe_mix(wav_of(data, 0), 0, np.random.default_rng(0))
    assert info.index == 1 and not np.array_equal(mixed, wav_of(data, 0))


# ---- option errors and the guide flag ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options,match",
    [
        ({"interference_prob": 1.5}, r"interference_prob must be in \[0, 1\], got 1.5"),
        ({"interference_prob": -0.1}, "interference_prob must be in"),
        ({"interference_snr": "loud"}, "interference_snr: cannot parse 'loud'"),
        ({"interference_snr": "10,0"}, "interference_snr: low 10.0 > high 0.0"),
        ({"interference_snr": "1,2,3"}, "interference_snr: expected one value"),
    ],
)
def test_bad_option_values_name_the_option(data, options, match):
    with pytest.raises(ValueError, match=match):
        build(data, **options)
    with pytest.raises(ValueError, match=match):
        task = tasks.setup_task(OmegaConf.create({"_name": "ami_av", "data": data, **options}))
        task.load_dataset("train")
    with pytest.raises(ValueError, match="^noise_snr: "):  # the noise option keeps its own name
        parse_snr("nope")


def _guide(*flags):
    return guide_overrides(["--output_dir", "o", "--do_train", "--dataset_name", "d", *flags])


def test_guide_flags_reach_the_task_config(data):
    from fairseq.dataclass.initialize import hydra_init
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tests.support.training import CONF

    overrides = [o for o in _guide("--interference_prob", "0.3", "--interference_snr=-2:8") if "interference" in o]
    assert overrides == ["++task.interference_prob=0.3", "++task.interference_snr='-2,8'"]
    assert not any("interference" in o for o in _guide())  # absent flags leave the preset's (off) value
    GlobalHydra.instance().clear()
    hydra_init("tiny_cpu")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.1"):
        cfg = compose(config_name="tiny_cpu", overrides=[f"++task.data={data}", *overrides])
    task = tasks.setup_task(cfg.task)
    assert task.cfg.interference_prob == 0.3 and parse_snr(task.cfg.interference_snr) == (-2.0, 8.0)
    assert task.data_options("train").interference_prob == 0.3 and task.data_options("valid").interference_prob == 0


@pytest.mark.parametrize("flags", [["--interference_prob", "1.5"], ["--interference_snr", "loud"]])
def test_guide_rejects_bad_flag_values(flags, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--output_dir", "o", "--do_train", "--dataset_name", "d", *flags])
    assert f"argument {flags[0]}" in capsys.readouterr().err


def test_guide_refuses_interference_without_audio():
    with pytest.raises(UsageError, match="--interference_prob .* contradicts --use_audio False"):
        _guide("--use_audio", "False", "--interference_prob", "0.2")
