"""Manifest format: round trips, validation messages with file:line, upstream-style manifests."""

import os

import pytest

from avhubert_ami.data import manifest as mf


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def test_tsv_wrd_dict_round_trip(tmp_path):
    root = str(tmp_path / "media")
    entries = [
        ("utt1", "video/utt1.mkv", "audio/utt1.wav", 50, 32000),
        ("utt2", "", "audio/utt2.wav", 25, 16000),  # audio-only row
        ("utt3", "video/utt3.mkv", "", 10, 6400),  # video-only row
    ]
    tsv = str(tmp_path / "train.tsv")
    assert mf.write_tsv(tsv, root, entries) == 3
    m = mf.read_tsv(tsv)
    assert m.root == root and len(m) == 3
    assert m.rows[0] == mf.ManifestRow(
        "utt1", os.path.join(root, "video/utt1.mkv"), os.path.join(root, "audio/utt1.wav"), 50, 32000, 2
    )
    assert m.rows[1].video is None and m.rows[1].audio.endswith("utt2.wav")
    assert m.rows[2].audio is None and m.rows[2].line == 4
    assert m.where(2) == f"{tsv}:4 (id 'utt3')"

    wrd = str(tmp_path / "train.wrd")
    mf.write_wrd(wrd, ["hello world", "multi\nline  text", "ok"])
    assert mf.read_wrd(wrd, expected_rows=3) == ["hello world", "multi line text", "ok"]

    d = str(tmp_path / "dict.wrd.txt")
    mf.write_dict(d, [("▁hello", 10), ("▁world", 3)])
    assert mf.read_dict(d) == [("▁hello", 10), ("▁world", 3)]

    man, labels = mf.load_split(str(tmp_path), "train")
    assert [r.id for r in man.rows] == ["utt1", "utt2", "utt3"] and labels[2] == "ok"


def test_upstream_style_manifest_parses(tmp_path):
    # upstream: video relative to root, audio absolute
    tsv = _write(
        tmp_path / "test.tsv",
        "/data/lrs3\ntrainval/abc/00001\ttrainval/abc/00001.mp4\t/data/lrs3/audio/trainval/abc/00001.wav\t75\t48000\n",
    )
    row = mf.read_tsv(tsv).rows[0]
    assert row.video == "/data/lrs3/trainval/abc/00001.mp4"
    assert row.audio == "/data/lrs3/audio/trainval/abc/00001.wav"
    assert (row.n_video_frames, row.n_audio_samples) == (75, 48000)


@pytest.mark.parametrize(
    "body, line, message",
    [
        ("a\tv.mkv\tw.wav\t10\n", 2, "expected 5 tab-separated columns"),
        ("a\tv.mkv\tw.wav\tten\t6400\n", 2, "n_video_frames must be an integer"),
        ("a\tv.mkv\tw.wav\t10\t-1\n", 2, "n_audio_samples must be >= 0"),
        ("a\tv.mkv\tw.wav\t10\t6400\nb\tv.mkv\tw.wav\t10\t6400\na\tv.mkv\tw.wav\t10\t6400\n", 4, "duplicate id 'a'"),
        ("a\tv.mkv\tw.wav\t10\t6400\nb\t\t\t10\t6400\n", 3, "neither a video nor an audio path"),
    ],
)
def test_tsv_validation_names_file_and_line(tmp_path, body, line, message):
    tsv = _write(tmp_path / "bad.tsv", "/root\n" + body)
    with pytest.raises(mf.ManifestError) as err:
        mf.read_tsv(tsv)
    assert f"{tsv}:{line}:" in str(err.value) and message in str(err.value)


def test_tsv_without_root_line(tmp_path):
    tsv = _write(tmp_path / "empty.tsv", "")
    with pytest.raises(mf.ManifestError, match=r"empty.tsv:1: first line must be the root"):
        mf.read_tsv(tsv)


def test_wrd_count_mismatch_and_empty_transcript(tmp_path):
    wrd = _write(tmp_path / "x.wrd", "one\n\nthree\n")
    with pytest.raises(mf.ManifestError, match=r"x.wrd: 3 transcript lines but the manifest has 2 rows"):
        mf.read_wrd(wrd, expected_rows=2)
    with pytest.raises(mf.ManifestError, match=r"x.wrd:2: empty transcript"):
        mf.read_wrd(wrd, expected_rows=3)
    assert mf.read_wrd(wrd, allow_empty=True)[1] == ""


def test_load_split_checks_labels_against_manifest(tmp_path):
    mf.write_tsv(str(tmp_path / "valid.tsv"), "/r", [("a", "a.mkv", "", 3, 0), ("b", "b.mkv", "", 3, 0)])
    mf.write_wrd(str(tmp_path / "valid.wrd"), ["only one"])
    with pytest.raises(mf.ManifestError, match="1 transcript lines but the manifest has 2 rows"):
        mf.load_split(str(tmp_path), "valid")
    with pytest.raises(mf.ManifestError, match=r"test.tsv: missing"):
        mf.load_split(str(tmp_path), "test")


def test_dict_validation(tmp_path):
    d = _write(tmp_path / "dict.txt", "a 1\nb x\n")
    with pytest.raises(mf.ManifestError, match=r"dict.txt:2: count must be an integer"):
        mf.read_dict(d)
    d = _write(tmp_path / "dict2.txt", "a 1\na 2\n")
    with pytest.raises(mf.ManifestError, match=r"dict2.txt:2: duplicate symbol 'a'"):
        mf.read_dict(d)
    with pytest.raises(mf.ManifestError, match="has whitespace"):
        mf.write_dict(str(tmp_path / "d3.txt"), [("a b", 1)])


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "train.tsv"
    mf.write_tsv(str(path), "/r", [("a", "a.mkv", "", 1, 0)])
    before = path.read_text()
    with pytest.raises(mf.ManifestError):
        mf.write_tsv(str(path), "/r", [("b", "b.mkv", "", 1, 0), ("bad\tid", "x", "", 1, 0)])
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["train.tsv"]  # no temp file left behind


def test_verify_names_rows_whose_counts_disagree_with_files(tmp_path, capsys):
    from avhubert_ami.cli import verify_manifest as verify
    from avhubert_ami.testing.tiny_data import make_tiny_split

    d = str(tmp_path)
    make_tiny_split(d, n=3, split="train", frames=(20, 28, 24), missing={2: "video"})
    assert verify.main(["--manifest_dir", d]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "train: 3 of 3 rows agree with their files"
    manifest = mf.read_tsv(os.path.join(d, "train.tsv"))
    rows = [(r.id, r.video or "", r.audio or "", r.n_video_frames, r.n_audio_samples) for r in manifest.rows]
    rows[1] = rows[1][:3] + (27, rows[1][4])  # off by one frame
    rows[2] = rows[2][:4] + (rows[2][4] + 2000,)  # audio-only row: 2000 samples too many
    mf.write_tsv(os.path.join(d, "train.tsv"), manifest.root, rows)
    assert verify.main(["--manifest_dir", d]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("has 28 frames") and "train.tsv:3 (id " in out[0] and "n_video_frames=27" in out[0]
    assert "train.tsv:4 (id " in out[1] and "n_audio_samples=" in out[1]
    assert out[2] == "train: 1 of 3 rows agree with their files"
