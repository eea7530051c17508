"""ami_corpus on a fabricated AMI tree (real layout, hand-written NXT XML, astronaut close-ups)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf

from avhubert_ami.cli import ami_corpus
from avhubert_ami.data import manifest as mf
from avhubert_ami.data.video import probe_video
from avhubert_ami.errors import PreparationError
from avhubert_ami.prep.ami_annotations import read_camera_map
from avhubert_ami.prep.runtime.journal import journal_path
from avhubert_ami.testing.ami_tree import make_ami_tree
from tests.support import REPO
from tests.support.preparation import mtimes

pytest.importorskip("cv2")
pytest.importorskip("skimage")


def _check_outputs(out):
    """Every row of every split: a 25 fps 96x96 ROI and a 16 kHz wav, both as long as the utterance."""
    for split in ("train", "valid", "test"):
        for row in mf.read_tsv(os.path.join(out, f"{split}.tsv")).rows:
            info = probe_video(row.video)
            assert (info.fps, info.height, info.width, info.n_frames) == (25.0, 96, 96, row.n_video_frames)
            duration = float(row.id.split("_")[-1]) / 100 - float(row.id.split("_")[-2]) / 100
            assert abs(row.n_video_frames - duration * 25) <= 1  # time-aligned cut
            assert sf.info(row.audio).frames == row.n_audio_samples == 640 * row.n_video_frames
    assert not [f for d, _, fs in os.walk(out) for f in fs if f.endswith(".tmp")]


def _run(*argv):
    return ami_corpus.convert(ami_corpus.build_parser().parse_args(list(argv)))


def test_ami_corpus_end_to_end_and_rerun(tmp_path):
    root = make_ami_tree(str(tmp_path))
    out = str(tmp_path / "out")
    summary = _run("--ami_dir", root, "--output_dir", out)
    assert (summary.written, summary.failed) == (6, [])
    assert any("XX9999a is not in partition" in n for n in summary.notes)
    train, labels = mf.load_split(out, "train")
    assert [r.id for r in train.rows] == [
        "ES2002a_MEE006_0000050_0000170",
        "ES2002a_FEE005_0000180_0000210",
        "ES2002a_MEE006_0000220_0000340",
    ]
    # words only (no <vocalsound>/<disfmarker>), punctuation stripped, truncated 'con-' kept as 'con'
    assert labels == ["okay um let's start", "mm-hmm", "the remote con control"]
    assert [r.id for r in mf.load_split(out, "valid")[0].rows] == ["ES2011a_MEE040_0000040_0000160"]  # dev
    # eval: lhotse's segmentation splits the segment at its full stop, timed by the words
    test, test_labels = mf.load_split(out, "test")
    assert test_labels == ["so the design is done", "any questions"]
    assert [r.id for r in test.rows] == ["ES2004a_MEE012_0000060_0000231", "ES2004a_MEE012_0000231_0000300"]
    _check_outputs(out)
    before = mtimes(out)
    again = _run("--ami_dir", os.path.join(root, "amicorpus"), "--output_dir", out)  # DIR may be amicorpus/
    assert (again.written, again.already_done) == (0, 6)
    assert mtimes(out) == before


def test_camera_only_from_meetings_xml_or_camera_map(tmp_path):
    root = make_ami_tree(str(tmp_path), zip_annotations=True, drop_camera=True)
    assert os.path.isfile(os.path.join(root, "ami_public_manual_1.6.2.zip"))
    out = str(tmp_path / "out")
    with pytest.raises(PreparationError, match=r"no camera attribute for ES2002a agent B.*--camera_map"):
        _run("--ami_dir", root, "--output_dir", out)
    cmap = tmp_path / "cams.txt"
    cmap.write_text("# meeting agent camera\nES2002a B Closeup2\n")
    summary = _run(
        "--ami_dir",
        root,
        "--output_dir",
        out,
        "--camera_map",
        str(cmap),
        "--max_duration",
        "0.5",
        "--drop_disfluencies",
    )
    # only the 0.3 s 'mm-hmm' segment is short enough, and it is a disfluency: dropped as empty
    assert summary.written == 0 and summary.dropped["empty transcript"] == 1
    summary = _run(
        "--ami_dir", root, "--output_dir", str(tmp_path / "out2"), "--camera_map", str(cmap), "--max_duration", "0.5"
    )
    assert summary.written == 1
    row = mf.read_tsv(os.path.join(tmp_path, "out2", "train.tsv")).rows[0]
    assert row.id == "ES2002a_FEE005_0000180_0000210" and row.video and row.audio
    assert sorted(os.listdir(tmp_path)) == ["ami_public_manual_1.6.2.zip", "amicorpus", "cams.txt", "out", "out2"]
    bad = tmp_path / "bad.txt"
    bad.write_text("ES2002a B left\n")
    with pytest.raises(PreparationError, match="bad.txt:1"):
        read_camera_map(str(bad))


def test_sdm_cuts_the_array_recording(tmp_path):
    import numpy as np

    root = make_ami_tree(str(tmp_path))
    out = str(tmp_path / "sdm")
    summary = _run("--ami_dir", root, "--output_dir", out, "--mic", "sdm", "--precompute_features")
    assert (summary.written, summary.failed) == (6, [])
    array, _ = sf.read(os.path.join(root, "amicorpus", "ES2002a", "audio", "ES2002a.Array1-01.wav"), dtype="float32")
    headset, _ = sf.read(os.path.join(root, "amicorpus", "ES2002a", "audio", "ES2002a.Headset-2.wav"), dtype="float32")
    train = mf.read_tsv(os.path.join(out, "train.tsv"))
    row = next(r for r in train.rows if r.id == "ES2002a_FEE005_0000180_0000210")
    got, rate = sf.read(row.audio, dtype="float32")
    feats = np.load(row.audio[: -len(".wav")] + ".fbank.npy")
    assert feats.shape == (row.n_video_frames, 104)  # stacked log-fbank the dataset reads instead of the wav
    a = 18 * 16000 // 10
    assert rate == 16000 and np.allclose(got, array[a : a + len(got)], atol=1e-4)  # the room mix ...
    assert not np.allclose(got, headset[a : a + len(got)], atol=1e-2)  # ... not B's headset
    # ES2011a has no Array1-01.wav: its utterance keeps the close-up only, and the summary says why
    valid = mf.read_tsv(os.path.join(out, "valid.tsv")).rows
    assert [(r.audio, bool(r.video)) for r in valid] == [(None, True)]
    assert any("ES2011a.Array1-01.wav" in n and "1 segment" in n for n in summary.notes)
    # mic is part of the journal fingerprint: an ihm run into the sdm output is refused, not mixed
    with pytest.raises(PreparationError, match="overwrite"):
        _run("--ami_dir", root, "--output_dir", out, "--mic", "ihm")


def test_killed_run_resumes(tmp_path):
    root = make_ami_tree(str(tmp_path))
    out = str(tmp_path / "out")
    journal = journal_path(out, "train")
    proc = subprocess.Popen(
        [sys.executable, "-m", "preprocess.ami_corpus", "--ami_dir", root, "--output_dir", out],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(journal) and sum(1 for _ in open(journal)) >= 2:  # fingerprint + 1 utterance
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = sum(1 for _ in open(journal)) - 1
    assert 1 <= n_done < 3, "the run should have been killed within the 3-utterance train split"
    assert not os.path.exists(os.path.join(out, "train.tsv"))
    summary = _run("--ami_dir", root, "--output_dir", out)
    assert (summary.already_done, summary.written, summary.failed) == (n_done, 6 - n_done, [])
    assert len(mf.read_tsv(os.path.join(out, "train.tsv"))) == 3
    _check_outputs(out)
