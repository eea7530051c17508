"""A manifest row whose frame count disagrees with its video stops the guide's training before the first update, in
one line naming the tsv row (it was found only when training reached the row); a resume of the same manifests does
not probe every file again."""

from __future__ import annotations

import os
import shutil

import pytest

from avhubert_ami.cli import finetune
from avhubert_ami.training import run
from tests.support.training import guide_args, tiny_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("check_data"))


def _with_wrong_count(data, folder, split="valid", row=1, frames=99):
    """A copy of the manifest folder whose ``split`` row ``row`` claims ``frames`` video frames (media stay where the
    tsv's root line points)."""
    shutil.copytree(data, folder, ignore=shutil.ignore_patterns("media"))
    tsv = folder / f"{split}.tsv"
    lines = tsv.read_text().splitlines()
    cols = lines[row].split("\t")
    cols[3] = str(frames)
    lines[row] = "\t".join(cols)
    tsv.write_text("\n".join(lines) + "\n")
    return folder


def test_a_wrong_frame_count_stops_training_before_the_first_update(tmp_path, data, cli_error):
    bad = _with_wrong_count(data, tmp_path / "bad")
    out = tmp_path / "run"
    rc, line = cli_error(finetune.main, guide_args(out, bad, "--max_steps", "1"))
    assert rc == 2
    assert f"{bad / 'valid.tsv'}:2" in line and "n_video_frames=99" in line
    assert f"avhubert-verify-manifest --manifest_dir {bad}" in line
    assert not (out / "hydra_train.log").exists()  # no trainer was started


def test_a_resume_of_the_same_manifests_is_not_probed_again(tmp_path, data, monkeypatch):
    import avhubert_ami.data.verify as verify

    probed = []
    real = verify.verify_manifest
    monkeypatch.setattr(verify, "verify_manifest", lambda m, progress=True: probed.append(m.path) or real(m, False))
    out = tmp_path / "run"
    out.mkdir()
    run.check_manifests(data, out)
    assert sorted(os.path.basename(p) for p in probed) == ["train.tsv", "valid.tsv"]
    probed.clear()
    run.check_manifests(data, out)
    assert probed == []
    os.utime(data / "train.tsv")  # changed manifests are probed again
    run.check_manifests(data, out)
    assert len(probed) == 2
