"""Every user error of the preparation CLIs ends in one clear line and a non-zero exit, no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from avhubert_ami.cli import ami_corpus, hf_to_manifest, mouth_roi, tokenizer
from tests.support import REPO
from tests.support.preparation import make_hf_dataset


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    return make_hf_dataset(str(tmp_path_factory.mktemp("errors")), bad_rows=False)


@pytest.fixture
def one_line_exit(cli_error):
    """``main(argv)`` must end with one error line matching ``pattern`` and exit status ``status`` (2: user error)."""

    def check(main, argv, pattern, status=2):
        rc, line = cli_error(main, argv)
        assert re.search(pattern, line), line
        assert rc == status, (rc, line)

    return check


def test_hf_to_manifest_user_errors(tmp_path, hf, one_line_exit):
    out = str(tmp_path / "out")
    one_line_exit(
        hf_to_manifest.main,
        ["--dataset_name", str(tmp_path / "nope"), "--output_dir", out],
        r"--dataset_name .*nope: no such file or folder",
    )
    one_line_exit(
        hf_to_manifest.main,
        ["--dataset_name", hf, "--output_dir", out, "--text_column", "words"],
        r"no column 'words'; columns are .*set --text_column",
    )
    one_line_exit(
        hf_to_manifest.main,
        ["--dataset_name", hf, "--output_dir", out, "--audio_column", "a", "--video_column", "v"],
        r"neither 'a' nor 'v' column",
    )
    assert not os.path.exists(out)  # input errors are found before the output folder is made
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    one_line_exit(
        hf_to_manifest.main,
        ["--dataset_name", hf, "--output_dir", str(blocker / "out")],
        r"cannot create the output folder .*a_file/out: Not a directory",
    )


def test_hub_name_that_cannot_be_loaded(tmp_path, monkeypatch, one_line_exit):
    import datasets

    def offline(*args, **kwargs):  # what datasets raises for a hub name without network
        raise ConnectionError("Couldn't reach 'someone/no_such_dataset' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    one_line_exit(
        hf_to_manifest.main,
        ["--dataset_name", "someone/no_such_dataset", "--output_dir", str(tmp_path)],
        r"--dataset_name someone/no_such_dataset: cannot load it .*ConnectionError: Couldn't reach",
    )


def test_ami_corpus_user_errors(tmp_path, one_line_exit):
    out = str(tmp_path / "out")
    one_line_exit(ami_corpus.main, ["--ami_dir", str(tmp_path / "nope"), "--output_dir", out], r"no amicorpus/")
    os.makedirs(tmp_path / "ami" / "amicorpus")
    os.makedirs(tmp_path / "ami" / "ami_public_manual_1.6.2" / "corpusResources")
    (tmp_path / "ami" / "ami_public_manual_1.6.2" / "corpusResources" / "meetings.xml").write_text("<x/>")
    one_line_exit(
        ami_corpus.main,
        ["--ami_dir", str(tmp_path / "ami"), "--output_dir", out, "--camera_map", str(tmp_path / "no_map.txt")],
        r"no_map\.txt: No such file or directory",
    )


def test_mouth_roi_and_tokenizer_user_errors(tmp_path, hf, one_line_exit):
    one_line_exit(
        mouth_roi.main,
        ["--input", str(tmp_path / "nope.mp4"), "--output", str(tmp_path / "o.mkv")],
        r"--input .*nope\.mp4: no such file or folder",
    )
    one_line_exit(tokenizer.main, ["--manifest_dir", str(tmp_path / "nope")], r"nope: no such folder")
    one_line_exit(tokenizer.main, ["--manifest_dir", str(tmp_path)], r"train\.wrd: missing")


def _mount_readonly(path):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        return False  # as a normal user a chmod'ed folder is read-only enough
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", path], capture_output=True)
    return r.returncode == 0


def test_read_only_output_folder_is_one_line_in_every_cli(tmp_path, hf, one_line_exit):
    ro = str(tmp_path / "ro")
    if not _mount_readonly(ro):
        if os.geteuid() == 0:
            pytest.skip("root without mount: no read-only folder to test with")
        os.chmod(ro, 0o555)
    try:
        clip = os.path.join(hf, "clips", sorted(os.listdir(os.path.join(hf, "clips")))[0])
        msg = rf": error: cannot write in {ro}: "
        one_line_exit(hf_to_manifest.main, ["--dataset_name", hf, "--output_dir", ro], msg)
        one_line_exit(mouth_roi.main, ["--input", clip, "--output", os.path.join(ro, "roi.mkv")], msg)
        one_line_exit(tokenizer.main, ["--manifest_dir", ro], msg)
    finally:
        subprocess.run(["umount", ro], check=False, capture_output=True)


def test_cli_process_prints_one_line_and_exits_non_zero(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "preprocess.hf_to_manifest",
            "--dataset_name",
            str(tmp_path / "nope"),
            "--output_dir",
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"avhubert-hf-to-manifest: error: --dataset_name {tmp_path / 'nope'}: no such file or folder"
    ], r.stderr
