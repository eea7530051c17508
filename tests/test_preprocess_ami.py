"""ami_corpus on a fabricated AMI tree (real layout, hand-written NXT XML, astronaut close-ups)."""

from __future__ import annotations

import os

import pytest
import soundfile as sf

from avhubert_ami.data import manifest as mf
from avhubert_ami.data.video import probe_video
from preprocess import ami_corpus
from tests.preprocess_fixtures import make_ami_tree

pytest.importorskip("cv2")
pytest.importorskip("skimage")


def _mtimes(folder):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, fs in os.walk(folder) for f in fs}


def _run(*argv):
    return ami_corpus.convert(ami_corpus.build_parser().parse_args(list(argv)))


def test_ami_corpus_end_to_end_and_rerun(tmp_path):
    root = make_ami_tree(str(tmp_path))
    out = str(tmp_path / "out")
    summary = _run("--ami_dir", root, "--output_dir", out)
    assert (summary.written, summary.failed) == (5, [])
    assert any("XX9999a is not in partition" in n for n in summary.notes)
    train, labels = mf.load_split(out, "train")
    assert [r.id for r in train.rows] == [
        "ES2002a_MEE006_0000050_0000170", "ES2002a_FEE005_0000180_0000210", "ES2002a_MEE006_0000220_0000340"]
    assert labels == ["okay um let's start", "mm-hmm", "the remote con control"]
    assert [r.id for r in mf.load_split(out, "valid")[0].rows] == ["ES2011a_MEE040_0000040_0000160"]  # dev
    assert mf.load_split(out, "test")[1] == ["so the design is done"]  # eval
    for split in ("train", "valid", "test"):
        for row in mf.read_tsv(os.path.join(out, f"{split}.tsv")).rows:
            info = probe_video(row.video)
            assert (info.fps, info.height, info.width, info.n_frames) == (25.0, 96, 96, row.n_video_frames)
            duration = float(row.id.split("_")[-1]) / 100 - float(row.id.split("_")[-2]) / 100
            assert abs(row.n_video_frames - duration * 25) <= 1  # time-aligned cut
            assert sf.info(row.audio).frames == row.n_audio_samples == 640 * row.n_video_frames
    before = _mtimes(out)
    again = _run("--ami_dir", os.path.join(root, "amicorpus"), "--output_dir", out)  # DIR may be amicorpus/
    assert (again.written, again.already_done) == (0, 5)
    assert _mtimes(out) == before


def test_camera_only_from_meetings_xml_or_camera_map(tmp_path):
    root = make_ami_tree(str(tmp_path), zip_annotations=True, drop_camera=True)
    assert os.path.isfile(os.path.join(root, "ami_public_manual_1.6.2.zip"))
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit, match=r"no camera attribute for ES2002a agent B.*--camera_map"):
        _run("--ami_dir", root, "--output_dir", out)
    cmap = tmp_path / "cams.txt"
    cmap.write_text("# meeting agent camera\nES2002a B Closeup2\n")
    summary = _run("--ami_dir", root, "--output_dir", out, "--camera_map", str(cmap), "--max_duration", "0.5",
                   "--drop_disfluencies")
    # only the 0.3 s 'mm-hmm' segment is short enough, and it is a disfluency: dropped as empty
    assert summary.written == 0 and summary.dropped["empty transcript"] == 1
    summary = _run("--ami_dir", root, "--output_dir", str(tmp_path / "out2"), "--camera_map", str(cmap),
                   "--max_duration", "0.5")
    assert summary.written == 1
    row = mf.read_tsv(os.path.join(tmp_path, "out2", "train.tsv")).rows[0]
    assert row.id == "ES2002a_FEE005_0000180_0000210" and row.video and row.audio
    assert "ami_public_manual_1.6.2" not in os.listdir(tmp_path)  # the zip was read, not extracted
    bad = tmp_path / "bad.txt"
    bad.write_text("ES2002a B left\n")
    with pytest.raises(SystemExit, match="bad.txt:1"):
        ami_corpus.read_camera_map(str(bad))
