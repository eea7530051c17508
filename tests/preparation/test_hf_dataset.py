"""hf_to_manifest + tokenizer on tiny generated HF datasets (both lip_video forms)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from avhubert_ami.cli import tokenizer
from avhubert_ami.data import manifest as mf
from avhubert_ami.data.video import probe_video, read_video
from avhubert_ami.errors import PreparationError
from avhubert_ami.prep.constants import SPLITS
from avhubert_ami.prep.hf_dataset import local_data_files
from avhubert_ami.prep.runtime.filesystem import sweep_stale_temporaries
from avhubert_ami.prep.runtime.journal import Journal, journal_path
from avhubert_ami.prep.runtime.locking import output_lock
from avhubert_ami.prep.runtime.summary import Summary
from avhubert_ami.scoring.text import TextNormalization, normalize_text
from tests.support import REPO
from tests.support.preparation import convert_hf, make_hf_dataset, mtimes


def _check_outputs(out, splits=SPLITS):
    for split in splits:
        manifest, labels = mf.load_split(out, split)
        assert manifest.root == os.path.abspath(out)
        assert len(manifest) == len(labels) > 0
        for row in manifest.rows:
            if row.video:
                info = probe_video(row.video)
                assert (info.height, info.width, info.fps) == (96, 96, 25.0)
                assert info.n_frames == row.n_video_frames
            if row.audio:
                meta = sf.info(row.audio)
                assert (meta.samplerate, meta.channels, meta.frames) == (16000, 1, row.n_audio_samples)
            if row.video and row.audio:  # trimmed/padded to agree within one frame
                assert abs(row.n_audio_samples - 640 * row.n_video_frames) < 640


@pytest.mark.parametrize("form", ["path", "array"])
def test_hf_to_manifest_both_video_forms(tmp_path, form):
    dataset = make_hf_dataset(str(tmp_path), video_form=form)
    out = str(tmp_path / "out")
    summary = convert_hf(dataset, out)
    _check_outputs(out)
    manifest, labels = mf.load_split(out, "train")
    ids = [r.id for r in manifest.rows]
    assert ids == ["train_000", "train_001", "train_002", "train_003", "train_012", "train_013"]
    assert labels[0] == "hello world this is a test"  # lower-cased, punctuation stripped
    by_id = {r.id: r for r in manifest.rows}
    assert by_id["train_012"].video is None and by_id["train_012"].audio  # audio-only kept
    assert by_id["train_013"].audio is None and by_id["train_013"].video  # video-only kept
    # 1.2 s of 30 fps (path form) or 25 fps (array form) -> 30 frames at 25 fps; 44.1 kHz stereo -> 16 kHz mono
    assert by_id["train_001"].n_video_frames == 30 and by_id["train_001"].n_audio_samples == 19200
    assert summary.written == 10 and summary.already_done == 0
    assert summary.dropped == {
        "empty transcript": 1,
        "no audio and no video": 1,
        "audio and video lengths differ by more than 0.12 s": 1,
    }
    assert [uid for uid, _ in summary.failed] == ["train_014"]
    assert "train_14.wav" in summary.failed[0][1]  # the error names the row's audio, not a temp file
    assert mf.load_split(out, "valid")[0].rows[0].id == "validation_000"  # HF 'validation' -> 'valid'


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_folder_of_data_files_beside_media(tmp_path, fmt):
    """load_dataset-style folders: split files named train/validation/test, media beside them (a folder
    with more wav/avi than table files must not be taken for an audio/video folder dataset)."""
    import json

    import datasets

    saved_path = make_hf_dataset(str(tmp_path), bad_rows=False)
    saved = datasets.load_from_disk(saved_path)
    tables = tmp_path / "tables"
    (tables / "data").mkdir(parents=True)
    os.symlink(os.path.join(saved_path, "clips"), tables / "clips")  # relative lip_video paths
    for split, d in saved.items():
        if fmt == "parquet":  # keeps the Audio feature (bytes inside the table)
            d.to_parquet(str(tables / "data" / f"{split}-00000-of-00001.parquet"))
            continue
        with open(tables / "data" / f"{split}.jsonl", "w") as f:  # plain paths, as users write them by hand
            for r in d.cast_column("audio", datasets.Audio(decode=False)):
                wav = tables / "data" / f"{r['id']}.wav"
                wav.write_bytes(r["audio"]["bytes"])
                f.write(
                    json.dumps(
                        {"id": r["id"], "audio": str(wav), "lip_video": r["lip_video"], "transcript": r["transcript"]}
                    )
                    + "\n"
                )
    assert list(local_data_files(str(tables))[1]) == ["train", "validation", "test"]
    out, ref = str(tmp_path / "out"), str(tmp_path / "ref")
    summary = convert_hf(str(tables), out)
    assert (summary.written, summary.failed) == (sum(len(d) for d in saved.values()), [])
    _check_outputs(out)
    convert_hf(saved_path, ref)
    for split in SPLITS:
        got, want = mf.load_split(out, split), mf.load_split(ref, split)
        assert got[1] == want[1]
        assert [(r.id, r.n_video_frames, r.n_audio_samples) for r in got[0].rows] == [
            (r.id, r.n_video_frames, r.n_audio_samples) for r in want[0].rows
        ]


def test_rerun_is_idempotent_and_options_are_checked(tmp_path):
    dataset = make_hf_dataset(str(tmp_path), bad_rows=False)
    out = str(tmp_path / "out")
    assert convert_hf(dataset, out).written == 8
    before = mtimes(out)
    again = convert_hf(dataset, out)
    assert (again.written, again.already_done) == (0, 8)
    assert mtimes(out) == before  # nothing rewritten
    with pytest.raises(PreparationError, match="other options"):
        convert_hf(dataset, out, "--video_format", "mp4")
    redo = convert_hf(dataset, out, "--video_format", "mp4", "--overwrite")
    assert redo.written == 8
    assert mf.read_tsv(os.path.join(out, "test.tsv")).rows[0].video.endswith(".mp4")
    _check_outputs(out)


def test_normalisation_flags_and_features(tmp_path):
    dataset = make_hf_dataset(str(tmp_path), bad_rows=False)
    out = str(tmp_path / "out")
    convert_hf(dataset, out, "--drop_disfluencies", "--keep_case", "--precompute_features")
    labels = mf.read_wrd(os.path.join(out, "train.wrd"))
    assert labels[1] == "the meeting starts now"  # 'um' dropped
    assert labels[3] == "yeah okay that's fine"  # 'mm-hmm', 'th-' dropped
    assert labels[0] == "Hello world This is a TEST"  # case kept
    row = mf.read_tsv(os.path.join(out, "train.tsv")).rows[0]
    feats = np.load(os.path.splitext(row.audio)[0] + ".fbank.npy")
    assert feats.shape[1] == 104 and abs(len(feats) - row.n_video_frames) <= 1


def test_normalize_transcript_unit():
    def n(text, **options):
        return normalize_text(text, TextNormalization(**options))

    assert n("Um, I THINK -- so. <vocalsound>") == "um i think so vocalsound"
    assert n("Um, I THINK -- so. <vocalsound>", keep_disfluencies=False) == "i think so"
    assert n("Mm-hmm it's th- the", keep_disfluencies=False) == "it's the"
    assert n("Mm-hmm it's", strip_punctuation=False, case="keep") == "Mm-hmm it's"


def test_journal_survives_torn_line(tmp_path):
    path = str(tmp_path / "j.jsonl")
    j = Journal(path, {"a": 1})
    j.add({"id": "u1", "text": "x"})
    j.close()
    with open(path, "a") as f:
        f.write('{"id": "u2", "te')  # killed mid-write
    j = Journal(path, {"a": 1})
    assert list(j.entries) == ["u1"]
    j.add({"id": "u3", "text": "y"})
    j.close()
    assert list(Journal(path, {"a": 1}).entries) == ["u1", "u3"]


def test_interrupted_run_resumes(tmp_path):
    dataset = make_hf_dataset(str(tmp_path), bad_rows=False)
    import datasets

    dd = datasets.load_from_disk(dataset)  # a bigger train split so the kill lands mid-way
    big = datasets.concatenate_datasets([dd["train"]] * 12)
    big = big.map(lambda r, i: {"id": f"utt{i:03d}"}, with_indices=True)
    dd["train"] = big
    dataset2 = str(tmp_path / "hf_big")
    dd.save_to_disk(dataset2)
    os.symlink(os.path.join(dataset, "clips"), os.path.join(dataset2, "clips"))  # relative video paths
    out = str(tmp_path / "out")
    journal = journal_path(out, "train")
    proc = subprocess.Popen(
        [sys.executable, "-m", "preprocess.hf_to_manifest", "--dataset_name", dataset2, "--output_dir", out],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(journal) and sum(1 for _ in open(journal)) >= 4:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = sum(1 for _ in open(journal)) - 1
    assert 3 <= n_done < len(big), "the run should have been killed mid-way"
    assert not os.path.exists(os.path.join(out, "train.tsv"))
    summary = convert_hf(dataset2, out)
    assert summary.already_done >= n_done and summary.written + summary.already_done == len(big) + 4
    _check_outputs(out)
    assert len(mf.read_tsv(os.path.join(out, "train.tsv"))) == len(big)
    leftovers = [f for d, _, fs in os.walk(out) for f in fs if f.endswith(".tmp")]
    assert not leftovers


def test_tokenizer_on_hf_output(tmp_path):
    dataset = make_hf_dataset(str(tmp_path), bad_rows=False)
    out = str(tmp_path / "out")
    convert_hf(dataset, out)
    # vocab capped to what the text supports
    size, changed = tokenizer.train_tokenizer(out, vocab_size=5000)
    assert changed and 10 < size < 5000
    entries = mf.read_dict(os.path.join(out, "dict.wrd.txt"))
    symbols = [s for s, _ in entries]
    assert not {"<s>", "<pad>", "</s>", "<unk>"} & set(symbols)
    assert len(symbols) == size - 4
    # counts are the pieces of the encoded training text
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "spm.model"))
    lines = mf.read_wrd(os.path.join(out, "train.wrd"))
    assert sum(c for _, c in entries) == sum(len(sp.encode(line)) for line in lines)
    # fairseq's Dictionary indices agree with the spm ids
    from fairseq.data import Dictionary

    d = Dictionary.load(os.path.join(out, "dict.wrd.txt"))
    for piece in sp.encode(lines[0], out_type=str):
        assert d.index(piece) == sp.piece_to_id(piece)
    # deterministic: a re-run rewrites nothing
    before = mtimes(out)
    assert tokenizer.main(["--manifest_dir", out, "--vocab_size", "5000"]) == 0
    assert mtimes(out) == before
    n_chars = len(set("".join(lines).replace(" ", "")))
    assert tokenizer.train_tokenizer(out, vocab_size=n_chars + 8)[0] == n_chars + 8
    assert tokenizer.train_tokenizer(out, vocab_size=10)[0] == n_chars + 5  # raised: every character is a piece


def test_cli_help_and_missing_train(tmp_path, capsys, cli_error):
    r = subprocess.run(
        [sys.executable, "-m", "preprocess.hf_to_manifest", "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0 and "--dataset_name" in r.stdout and "lip_video" in r.stdout
    with pytest.raises(SystemExit) as e:
        tokenizer.main(["--help"])
    assert e.value.code == 0 and "--vocab_size" in capsys.readouterr().out
    rc, line = cli_error(tokenizer.main, ["--manifest_dir", str(tmp_path)])
    assert rc == 2 and "train.wrd" in line


def test_detect_roi_on_face_video_paths(tmp_path):
    pytest.importorskip("cv2")
    pytest.importorskip("skimage")
    import datasets

    from avhubert_ami.data.video import write_video
    from avhubert_ami.testing.media import astronaut_frames, tone
    from tests.support.preparation import wav_bytes

    ds_dir = tmp_path / "hf"
    rgb, _ = astronaut_frames(30)
    write_video(str(ds_dir / "face.avi"), rgb, fps=25.0)  # a face video, not a lip clip
    features = datasets.Features(
        {
            "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
            "lip_video": datasets.Value("string"),
            "transcript": datasets.Value("string"),
        }
    )
    rows = [
        {
            "audio": {"bytes": wav_bytes(tone(1.2), 16000), "path": "a.wav"},
            "lip_video": "face.avi",
            "transcript": "hello there",
        }
    ]
    ds = datasets.Dataset.from_list(rows, features=features).cast_column("audio", datasets.Audio())
    ds.save_to_disk(str(ds_dir))  # a plain Dataset -> --single_split
    out = str(tmp_path / "out")
    summary = convert_hf(str(ds_dir), out, "--detect_roi", "--single_split", "test")
    assert summary.written == 1 and any("'train' is missing" in n for n in summary.notes)
    row = mf.read_tsv(os.path.join(out, "test.tsv")).rows[0]
    assert (row.id, row.n_video_frames, row.n_audio_samples) == ("test-000000", 30, 19200)
    frames = read_video(row.video)
    assert frames.shape == (30, 96, 96) and frames[:, 40:56, 30:66].std() > 20  # teeth/lips at the centre
    # --backend reaches the landmark step (the coarse Haar box crops differently)
    convert_hf(str(ds_dir), str(tmp_path / "haar"), "--detect_roi", "--backend", "haar", "--single_split", "test")
    haar = read_video(mf.read_tsv(os.path.join(tmp_path, "haar", "test.tsv")).rows[0].video)
    assert haar.shape == frames.shape and np.abs(haar.astype(int) - frames).mean() > 3


def test_stale_temporaries_of_a_killed_run_are_swept(tmp_path):
    import tempfile

    os.makedirs(tmp_path / "train" / "video")
    fd, stale = tempfile.mkstemp(prefix=".u1.mkv.", suffix=".tmp", dir=tmp_path / "train" / "video")
    os.close(fd)
    (tmp_path / ".users_own.tmp").write_text("not ours")  # not an atomic writer's name: kept
    summary = Summary()
    with pytest.raises(RuntimeError, match="without holding its output lock"):  # another run's may be in flight
        sweep_stale_temporaries(str(tmp_path), summary)
    with output_lock(str(tmp_path)):
        sweep_stale_temporaries(str(tmp_path), summary, only="other.mkv")
        assert os.path.exists(stale) and summary.notes == []
        sweep_stale_temporaries(str(tmp_path), summary)
    assert not os.path.exists(stale) and (tmp_path / ".users_own.tmp").exists()
    assert summary.notes == ["note: removed 1 temporary file(s) left by an interrupted run"]
