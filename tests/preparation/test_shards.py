"""--num_shards N --shard_index K: a deterministic partition, shards side by side in one folder, and an
assembly run (no shard flags) that writes the same manifests as one unsharded run without redoing work."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from avhubert_ami.cli import ami_corpus, hf_to_manifest, mouth_roi
from avhubert_ami.data import manifest as mf
from avhubert_ami.errors import PreparationError
from avhubert_ami.prep import ami as ami_recipe
from avhubert_ami.prep import mouth_roi as roi_lib
from avhubert_ami.prep.constants import SPLITS
from avhubert_ami.prep.runtime import shards
from tests.support import REPO
from tests.support.preparation import convert_hf, make_hf_dataset


def _manifests(out):
    """Each split's rows with paths relative to the root, and its transcripts."""
    result = {}
    for split in SPLITS:
        manifest, texts = mf.load_split(out, split)
        rows = [
            (
                r.id,
                os.path.relpath(r.video, out) if r.video else "",
                os.path.relpath(r.audio, out) if r.audio else "",
                r.n_video_frames,
                r.n_audio_samples,
            )
            for r in manifest.rows
        ]
        result[split] = (rows, texts)
    return result


def _media_mtimes(out):
    return {
        os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
        for d, _, fs in os.walk(out)
        for f in fs
        if f.endswith((".wav", ".mkv"))
    }


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    return make_hf_dataset(str(tmp_path_factory.mktemp("shards")), bad_rows=True)


def test_shards_partition_deterministically():
    for count in range(1, 6):
        for total in range(0, 23):
            owners = [[k for k in range(count) if shards.Shard(k, count).owns_range(i, total)] for i in range(total)]
            assert all(len(o) == 1 for o in owners)
            assert owners == sorted(owners)  # contiguous blocks in order
    listed = [m for ms in ami_recipe.partition_meetings("full-corpus-asr").values() for m in ms]
    parts = [ami_recipe.shard_meetings(listed, listed, shards.Shard(k, 8)) for k in range(8)]
    assert sum(len(p) for p in parts) == len(listed) == len(set().union(*parts))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    present = set(listed[::3])  # assignment does not depend on which meetings are present
    assert ami_recipe.shard_meetings(present, listed, shards.Shard(3, 8)) == parts[3] & present


def test_shard_flags_are_checked(hf, tmp_path, cli_error):
    for flags, msg in (
        (["--num_shards", "2"], "needs --shard_index"),
        (["--num_shards", "2", "--shard_index", "2"], "0 <= index < N"),
        (["--shard_index", "0"], "needs --num_shards N > 1"),
    ):
        rc, line = cli_error(hf_to_manifest.main, ["--dataset_name", hf, "--output_dir", str(tmp_path), *flags])
        assert rc == 2 and re.search(msg, line), line


def test_shards_then_assembly_equal_one_unsharded_run(hf, tmp_path, monkeypatch):
    whole, sharded = str(tmp_path / "whole"), str(tmp_path / "sharded")
    one = convert_hf(hf, whole)
    s0 = convert_hf(hf, sharded, "--num_shards", "2", "--shard_index", "0")
    assert not any(os.path.exists(os.path.join(sharded, f"{s}.tsv")) for s in SPLITS)  # shards write none
    s1 = convert_hf(hf, sharded, "--num_shards", "2", "--shard_index", "1")
    assert s0.written + s1.written == one.written and s0.written and s1.written
    before = _media_mtimes(sharded)

    import avhubert_ami.data.video as video_io

    def no_redo(*args, **kwargs):
        raise AssertionError("the assembly must not redo an utterance")

    monkeypatch.setattr(video_io, "write_video", no_redo)
    bad_rows = {uid for uid, _ in one.failed}  # corrupt media fail again, as in any re-run
    assembly = convert_hf(hf, sharded)
    assert assembly.written == 0 and assembly.already_done == one.written
    assert {uid for uid, _ in assembly.failed} == bad_rows
    assert _media_mtimes(sharded) == before
    assert _manifests(sharded) == _manifests(whole)
    assert not [f for f in os.listdir(sharded) if f.endswith(".incomplete")]


def test_unfinished_shard_blocks_assembly_naming_it(hf, tmp_path):
    out = str(tmp_path)
    first = convert_hf(hf, out, "--num_shards", "3", "--shard_index", "0")
    again = convert_hf(hf, out, "--num_shards", "3", "--shard_index", "0")  # a shard resumes on its own
    assert first.written > 0 and again.written == 0 and again.already_done == first.written
    convert_hf(hf, out, "--num_shards", "3", "--shard_index", "2")
    with pytest.raises(
        PreparationError, match=r"shard 1 of 3 \(shard-1-of-3\) has not run .*--num_shards 3 --shard_index 1"
    ):
        convert_hf(hf, out)
    with open(os.path.join(out, ".progress", "shard-1-of-3.running"), "w") as f:  # as a killed shard leaves it
        f.write("12345\n")
    with pytest.raises(PreparationError, match=r"shard 1 of 3 \(shard-1-of-3\) is still running or was interrupted"):
        convert_hf(hf, out)
    assert not os.path.exists(os.path.join(out, "train.tsv"))
    convert_hf(hf, out, "--num_shards", "3", "--shard_index", "1")
    convert_hf(hf, out)
    assert len(mf.load_split(out, "train")[0]) > 0


def test_shards_run_side_by_side_but_not_with_an_unsharded_run(tmp_path):
    out = str(tmp_path)
    with shards.claim_output(out, shards.Shard(0, 2)):
        with pytest.raises(PreparationError, match=rf"another run \(shard runs: shard-0-of-2 pid {os.getpid()}\)"):
            with shards.claim_output(out, None):
                pass
        with pytest.raises(PreparationError, match=rf"another run \(pid {os.getpid()}\)"):  # the same shard twice
            with shards.claim_output(out, shards.Shard(0, 2)):
                pass
        with shards.claim_output(out, shards.Shard(1, 2)):  # another shard: fine
            pass
    with shards.claim_output(out, None):  # all shards gone
        pass


def test_mouth_roi_folder_shards(tmp_path, monkeypatch):
    src = tmp_path / "in"
    for i in range(5):
        (src / f"d{i % 2}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 2}" / f"v{i}.mp4").write_bytes(b"")
    done = []

    def fake(src_path, dst, codec, window=12, backend="auto"):
        done.append(os.path.relpath(dst, tmp_path / "out"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "wb").close()
        return 1, 0.1

    monkeypatch.setattr(roi_lib, "process_file", fake)
    parts = []
    for k in range(2):
        done.clear()
        mouth_roi.main(
            ["--input", str(src), "--output", str(tmp_path / "out"), "--num_shards", "2", "--shard_index", str(k)]
        )
        parts.append(sorted(done))
    assert parts[0] and parts[1] and not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == sorted(os.path.join(f"d{i % 2}", f"v{i}.mp4") for i in range(5))  # keep
    done.clear()
    mouth_roi.main(["--input", str(src), "--output", str(tmp_path / "out")])
    assert done == []  # nothing left for the unsharded run


@pytest.mark.slow  # three conversion processes on 2 cores: ~40 s
def test_two_shard_processes_at_once_then_assembly(hf, tmp_path):
    whole, sharded = str(tmp_path / "whole"), str(tmp_path / "sharded")
    one = convert_hf(hf, whole)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "preprocess.hf_to_manifest",
        "--dataset_name",
        hf,
        "--output_dir",
        sharded,
        "--num_shards",
        "2",
        "--shard_index",
    ]
    procs = [
        subprocess.Popen(cmd + [str(k)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode in (0, 1) for p in procs), outs  # 1 for the shard holding the corrupt rows
    failed = [int(line.split()[1]) for out, _ in outs for line in out.splitlines() if line.startswith("failed: ")]
    assert sum(failed) == len(one.failed)
    assert all("Traceback" not in err for _, err in outs)
    summary = convert_hf(hf, sharded)
    assert summary.written == 0
    assert _manifests(sharded) == _manifests(whole)


@pytest.mark.slow  # mouth ROIs of 3 meetings: ~25 s
def test_ami_shards_by_meeting_then_assembly(tmp_path):
    pytest.importorskip("cv2")
    from avhubert_ami.testing.ami_tree import make_ami_tree

    ami = make_ami_tree(str(tmp_path / "ami"), seconds=3.5)
    out = str(tmp_path / "out")

    def run(*flags):
        return ami_corpus.convert(ami_corpus.build_parser().parse_args(["--ami_dir", ami, "--output_dir", out, *flags]))

    listed = [m for ms in ami_recipe.partition_meetings("full-corpus-asr").values() for m in ms]
    done_by = {}
    for k in range(2):
        run("--num_shards", "2", "--shard_index", str(k))
        for split in SPLITS:
            path = shards.journal_path(out, split, shards.Shard(k, 2))
            for line in open(path).read().splitlines()[1:] if os.path.exists(path) else []:
                meeting = line.split('"id": "')[1].split("_")[0]
                done_by.setdefault(meeting, set()).add(k)
    assert done_by and all(len(ks) == 1 for ks in done_by.values())  # whole meetings, one shard each
    for meeting, (k,) in done_by.items():
        assert meeting in ami_recipe.shard_meetings([meeting], listed, shards.Shard(k, 2))
    summary = run()
    assert summary.written == 0 and summary.already_done > 0
    assert sum(len(mf.load_split(out, s)[0]) for s in SPLITS) == summary.already_done
