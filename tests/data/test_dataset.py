"""AVHubertDataset: items, collation, modality control, filters, noise and every bad-input case."""

import logging
import os

import numpy as np
import pytest
import sentencepiece as spm
import soundfile as sf
import torch
from fairseq.data import Dictionary

from avhubert_ami.data.audio import write_audio
from avhubert_ami.data.dataset import AVHubertDataset, DataOptions
from avhubert_ami.data.manifest import load_split, read_tsv, write_tsv, write_wrd
from avhubert_ami.data.noise import NoiseMixer, mix_at_snr, parse_snr
from avhubert_ami.data.video import write_video
from avhubert_ami.errors import ManifestError, MediaError
from avhubert_ami.testing.media import make_frames, make_wave, write_empty_video
from avhubert_ami.testing.tiny_data import make_tiny_split


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tiny"))
    make_tiny_split(d, n=4, split="train", frames=(20, 28, 24, 16))
    make_tiny_split(d, n=4, split="mixed", frames=(20, 28, 24, 16), missing={2: "audio", 3: "video"})
    return d


def build(folder, split="train", noise=None, **kw):
    manifest, texts = load_split(folder, split)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "spm.model"))
    dictionary = Dictionary.load(os.path.join(folder, "dict.wrd.txt"))
    enc = lambda t: " ".join(sp.encode(t, out_type=str))  # noqa: E731
    return AVHubertDataset(
        manifest,
        texts,
        dictionary,
        enc,
        DataOptions(**kw),
        noise=noise,
        label_path=os.path.join(folder, f"{split}.wrd"),
    )


def test_item_shapes_and_labels(tiny):
    ds = build(tiny)
    assert len(ds) == 4 and list(ds.sizes) == [20, 28, 24, 16]
    item = ds[1]
    assert item["video"].shape == (28, 88, 88) and item["video"].dtype == torch.float32
    assert item["audio"].shape == (28, 104)
    assert item["present"] == (True, True) and item["utt_id"] == "train_001"
    assert item["label"][-1] == ds.dictionary.eos()
    assert (item["label"][:-1] != ds.dictionary.unk()).all()
    # normalize=True -> per-frame layer norm
    assert torch.allclose(item["audio"].mean(1), torch.zeros(28), atol=1e-4)


def test_collate_mixed_lengths_and_presence(tiny):
    ds = build(tiny, "mixed")
    batch = ds.collater([ds[i] for i in range(4)])
    src = batch["net_input"]["source"]
    assert src["audio"].shape == (4, 104, 28) and src["video"].shape == (4, 1, 28, 88, 88)
    assert src["present"].tolist() == [[True, True], [True, True], [False, True], [True, False]]
    assert (src["audio"][2] == 0).all() and (src["video"][3] == 0).all()
    pm = batch["net_input"]["padding_mask"]
    assert pm.dtype == torch.bool and pm.shape == (4, 28)
    assert pm.sum(1).tolist() == [8, 0, 4, 12]
    assert (src["video"][0, 0, 20:] == 0).all() and (src["audio"][0, :, 20:] == 0).all()
    assert batch["utt_id"] == ["mixed_000", "mixed_001", "mixed_002", "mixed_003"]
    assert batch["id"].tolist() == [0, 1, 2, 3]
    tgt, prev, lens = batch["target"], batch["net_input"]["prev_output_tokens"], batch["target_lengths"]
    d = ds.dictionary
    assert batch["ntokens"] == int(lens.sum())
    for b in range(4):
        n = int(lens[b])
        assert tgt[b, n - 1] == d.eos() and (tgt[b, n:] == d.pad()).all()
        assert prev[b, 0] == d.eos() and torch.equal(prev[b, 1:n], tgt[b, : n - 1])


def test_crop_to_shortest_and_trim(tiny):
    ds = build(tiny, pad_audio=False)
    batch = ds.collater([ds[0], ds[1]])
    assert batch["net_input"]["source"]["video"].shape[2] == 20
    assert not batch["net_input"]["padding_mask"].any()
    ds = build(tiny, max_trim_sample_size=22)
    assert ds.size(1) == 22 and list(ds.num_tokens_vec(np.arange(4))) == [20, 22, 22, 16]
    batch = ds.collater([ds[0], ds[1]])
    assert batch["net_input"]["source"]["audio"].shape == (2, 104, 22)
    assert batch["net_input"]["padding_mask"].sum().item() == 2


def test_single_modality_and_auto_adapt(tiny, caplog):
    ds = build(tiny, "mixed", modalities=["audio"])
    assert len(ds) == 3  # the row without audio is skipped and counted
    batch = ds.collater([ds[i] for i in range(3)])
    assert batch["net_input"]["source"]["video"] is None
    assert batch["net_input"]["source"]["audio"].shape[:2] == (3, 104)
    assert ds[2]["audio"].shape[0] == 16  # audio-only row: own length (640*16 samples)
    vds = build(tiny, "mixed", modalities=["video"])
    assert len(vds) == 3 and vds.collater([vds[0]])["net_input"]["source"]["audio"] is None
    # a batch where no row has audio: audio is None even though the task uses both
    ds = build(tiny, "mixed")
    assert ds.collater([ds[2]])["net_input"]["source"]["audio"] is None


def test_size_filters_are_counted(tiny, caplog):
    with caplog.at_level(logging.INFO):
        ds = build(tiny, min_sample_size=18, max_sample_size=26)
    assert list(ds.sizes) == [20, 24]
    assert "skipped 1 shorter" in caplog.text and "1 longer" in caplog.text
    assert ds.where(1).endswith("(id 'train_002')")
    with pytest.raises(ManifestError, match="no usable rows"):
        build(tiny, min_sample_size=1000)


def test_ordered_indices_longest_first(tiny):
    ds = build(tiny, shuffle=False)
    assert list(ds.ordered_indices()) == [1, 2, 0, 3]


def test_modality_drop_rates_and_no_loading(tiny, monkeypatch):
    ds = build(tiny, train=True, audio_drop_prob=0.3, visual_drop_prob=0.2, seed=7)
    counts = np.zeros(3)
    n = 0
    for epoch in range(1, 401):
        ds.set_epoch(epoch)
        for i in range(4):
            a, v = ds._presence(i, np.random.default_rng((7, epoch, i)))
            assert a or v
            counts += [not a, not v, a and v]
            n += 1
    rates = counts / n
    assert abs(rates[0] - 0.3) < 0.04 and abs(rates[1] - 0.2) < 0.04 and abs(rates[2] - 0.5) < 0.04
    # eval: no drop
    assert build(tiny, audio_drop_prob=0.5)._presence(0, np.random.default_rng(0)) == [True, True]
    # a dropped modality is not even read
    calls = []
    monkeypatch.setattr("avhubert_ami.data.dataset.read_video_with_info", lambda p: calls.append(p) or 1 / 0)
    ds = build(tiny, train=True, audio_drop_prob=0.0, visual_drop_prob=1.0)
    item = ds[0]
    assert calls == [] and item["video"] is None and item["present"] == (True, False)
    assert item["length"] == 20  # audio still fitted to the manifest's video length


def test_randomness_is_deterministic_per_seed_epoch_index(tiny):
    ds = build(tiny, train=True, image_aug=True, seed=3)
    a, b = ds[0]["video"], ds[0]["video"]
    assert torch.equal(a, b)
    outs = []
    for epoch in range(1, 6):
        ds.set_epoch(epoch)
        outs.append(ds[0]["video"])
    assert any(not torch.equal(outs[0], o) for o in outs[1:])
    eval_ds = build(tiny, train=False, image_aug=True)
    eval_ds.set_epoch(9)
    assert torch.equal(eval_ds[0]["video"], build(tiny)[0]["video"])  # center crop, no flip


def test_noise_mixing(tiny, tmp_path):
    assert parse_snr("0") == (0, 0) and parse_snr("(-5, 5)") == (-5, 5) and parse_snr("-5:10") == (-5, 10)
    with pytest.raises(ValueError):
        parse_snr("loud")
    rng = np.random.default_rng(0)
    clean = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    noise = (0.3 * rng.standard_normal(5000)).astype(np.float32)
    mixed = mix_at_snr(clean, noise, 10.0)
    added = mixed - clean
    snr = 10 * np.log10(np.mean(clean**2) / np.mean(added**2))
    assert abs(snr - 10.0) < 0.05 and len(mixed) == len(clean)
    loud = mix_at_snr(0.9 * np.ones(100, np.float32), np.ones(10, np.float32), -20)
    assert np.abs(loud).max() <= 1.0 + 1e-6
    npath = str(tmp_path / "n.wav")
    write_audio(npath, noise)
    ds_clean, ds_noisy = build(tiny), build(tiny, noise=NoiseMixer([npath], prob=1.0, snr="0"))
    assert not torch.allclose(ds_clean[0]["audio"], ds_noisy[0]["audio"])
    assert torch.equal(ds_noisy[0]["audio"], ds_noisy[0]["audio"])


# ---- bad input: each names the file and the manifest row -----------------------------------------


def _one_row(folder, name, video=None, audio=None, nv=20, text="okay so the remote control", **vkw):
    """Write split ``name`` with a single row using the given media (numpy arrays or raw paths)."""
    vrel = arel = ""
    if isinstance(video, np.ndarray):
        vrel = f"media/{name}.mkv"
        write_video(os.path.join(folder, vrel), video, **vkw)
    elif isinstance(video, str):
        vrel = video
    if isinstance(audio, np.ndarray):
        arel = f"media/{name}.wav"
        write_audio(os.path.join(folder, arel), audio)
    elif isinstance(audio, str):
        arel = audio
    write_tsv(os.path.join(folder, f"{name}.tsv"), folder, [(name, vrel, arel, nv, nv * 640)])
    write_wrd(os.path.join(folder, f"{name}.wrd"), [text])
    return build(folder, name)


def _row_msg(name, file_part):
    return rf"{file_part}.*\[manifest row .*{name}\.tsv:2 \(id '{name}'\)\]"


def test_bad_missing_file(tiny):
    ds = _one_row(tiny, "b_missing", video="media/nope.mkv", audio=make_wave(20 * 640, 1))
    with pytest.raises(MediaError, match=_row_msg("b_missing", "nope.mkv.*not found")):
        ds[0]


def test_bad_corrupt_video(tiny):
    with open(os.path.join(tiny, "media", "corrupt.mkv"), "wb") as f:
        f.write(os.urandom(2000))
    ds = _one_row(tiny, "b_corrupt", video="media/corrupt.mkv")
    with pytest.raises(MediaError, match=_row_msg("b_corrupt", "corrupt.mkv")):
        ds[0]


def test_bad_zero_frame_video(tiny):
    write_empty_video(os.path.join(tiny, "media", "empty.avi"))
    ds = _one_row(tiny, "b_empty", video="media/empty.avi")
    with pytest.raises(MediaError, match=_row_msg("b_empty", "empty.avi.*0 frames")):
        ds[0]


def test_bad_zero_length_audio(tiny):
    sf.write(os.path.join(tiny, "media", "silent0.wav"), np.zeros(0, np.float32), 16000, subtype="PCM_16")
    ds = _one_row(tiny, "b_noaudio", video=make_frames(20, 1), audio="media/silent0.wav")
    with pytest.raises(MediaError, match=_row_msg("b_noaudio", "silent0.wav.*0 samples")):
        ds[0]


def test_bad_av_length_mismatch(tiny):
    ds = _one_row(tiny, "b_len", video=make_frames(20, 1), audio=make_wave(60 * 640, 1))
    with pytest.raises(MediaError, match=_row_msg("b_len", "b_len.wav.*60 feature frames.*has 20")):
        ds[0]
    ok = _one_row(tiny, "b_len_ok", video=make_frames(20, 1), audio=make_wave(25 * 640, 1))
    assert ok[0]["audio"].shape == (20, 104)  # within tolerance: trimmed


def test_bad_sample_rate_and_stereo(tiny):
    path = os.path.join(tiny, "media", "r8k.wav")
    write_audio(path, make_wave(20 * 320, 2), sample_rate=8000)
    ds = _one_row(tiny, "b_rate", audio="media/r8k.wav")
    with pytest.raises(MediaError, match=_row_msg("b_rate", "r8k.wav.*8000 Hz")):
        ds[0]
    write_audio(os.path.join(tiny, "media", "st.wav"), np.stack([make_wave(12800, 3)] * 2, axis=1))
    ds = _one_row(tiny, "b_stereo", audio="media/st.wav")
    with pytest.raises(MediaError, match=_row_msg("b_stereo", "st.wav.*2 channels")):
        ds[0]


def test_bad_fps(tiny):
    ds = _one_row(tiny, "b_fps", video=make_frames(30, 4), nv=30, fps=30)
    with pytest.raises(MediaError, match=_row_msg("b_fps", "b_fps.mkv.*30 fps, expected 25")):
        ds[0]
    ok = build(tiny, "b_fps", resample_video_fps=True)
    assert ok[0]["video"].shape[0] == 25


def test_bad_unk_only_transcript(tiny):
    with pytest.raises(ManifestError, match=r"b_unk\.wrd:1 .*b_unk\.tsv:2.*only to <unk>"):
        _one_row(tiny, "b_unk", video=make_frames(20, 1), text="ZZZ QQQ 12345")


def test_bad_row_count_mismatch(tiny):
    write_tsv(os.path.join(tiny, "b_count.tsv"), tiny, [("u1", "", "media/train/train_000.wav", 20, 12800)])
    write_wrd(os.path.join(tiny, "b_count.wrd"), ["okay", "yes"])
    with pytest.raises(ManifestError, match="2 transcript lines but the manifest has 1 rows"):
        load_split(tiny, "b_count")
    with pytest.raises(ManifestError, match="0 transcripts but"):
        AVHubertDataset(read_tsv(os.path.join(tiny, "b_count.tsv")), [], build(tiny).dictionary)


def test_bad_row_without_modalities_rejected_by_manifest(tiny):
    path = os.path.join(tiny, "b_none.tsv")
    with open(path, "w") as f:
        f.write(f"{tiny}\nu1\t\t\t10\t6400\n")
    with pytest.raises(ManifestError, match="neither a video nor an audio"):
        read_tsv(path)


def test_precomputed_features_stand_in_for_the_wave(tmp_path):
    from avhubert_ami.prep.media import write_fbank

    d = str(tmp_path)
    make_tiny_split(d, n=2, split="train", frames=(20, 24))
    plain = build(d, normalize=True)
    expected = [plain[i]["audio"] for i in range(2)]
    for row in read_tsv(os.path.join(d, "train.tsv")).rows:
        write_fbank(row.audio)
    cached = build(d, normalize=True)
    for i in range(2):
        torch.testing.assert_close(cached[i]["audio"], expected[i], rtol=0, atol=0)
    row = read_tsv(os.path.join(d, "train.tsv")).rows[0]
    npy = os.path.splitext(row.audio)[0] + ".fbank.npy"
    np.save(npy, np.zeros((20, 104), dtype=np.float32))  # the file is what is read, not the wav
    assert float(build(d, normalize=False)[0]["audio"].abs().sum()) == 0.0
    np.save(npy, np.zeros((20, 26), dtype=np.float32))
    with pytest.raises(MediaError, match=r"fbank.npy: expected float32 \(T, 104\)"):
        build(d)[0]


def test_bad_frame_count_in_tsv_names_the_row(tiny):
    """A tsv n_video_frames other than the file's count is refused at first read, naming the tsv row
    (it sizes batches and the audio is cut to it: a wrong one used to surface later as a media error)."""
    ds = _one_row(tiny, "b_nv", video=make_frames(20, 1), audio=make_wave(20 * 640, 1), nv=24)
    with pytest.raises(
        ManifestError, match=r"b_nv\.tsv:2 \(id 'b_nv'\): n_video_frames=24 but .*b_nv\.mkv has 20 frames"
    ):
        ds[0]
    ok = _one_row(tiny, "b_nv_ok", video=make_frames(20, 1), audio=make_wave(20 * 640, 1), nv=20)
    assert ok[0]["video"].shape[0] == 20


def test_bad_sample_count_of_audio_only_row(tiny):
    write_audio(os.path.join(tiny, "media", "b_na.wav"), make_wave(20 * 640, 2))
    write_tsv(os.path.join(tiny, "b_na.tsv"), tiny, [("b_na", "", "media/b_na.wav", 20, 40 * 640)])
    write_wrd(os.path.join(tiny, "b_na.wrd"), ["okay so the remote control"])
    with pytest.raises(ManifestError, match=r"b_na\.tsv:2 .*n_audio_samples=25600 but .*b_na\.wav has 12800 samples"):
        build(tiny, "b_na")[0]
    write_tsv(os.path.join(tiny, "b_na.tsv"), tiny, [("b_na", "", "media/b_na.wav", 20, 20 * 640 + 300)])
    assert build(tiny, "b_na")[0]["audio"] is not None  # within one video frame: accepted
