"""avhubert-transcribe loses nothing (issue 24 items 2, 6, 7 and 16): every input gets its own outputs, a transcript
of another input is not replaced, one run writes into a folder at a time, a folder that cannot be written is refused
before any work, and an output that cannot be written is recorded while the batch goes on to its summary."""

from __future__ import annotations

import json
import os

import pytest

from avhubert_ami.data.audio import write_audio
from avhubert_ami.testing.recordings import speech_with_pauses
from tests.support.training import trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


def _wav(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    wave, _, _ = speech_with_pauses([0.4], [30], seed=seed, tail=0.4)
    write_audio(str(path.parent / "new.wav"), wave)
    os.replace(path.parent / "new.wav", path)  # the name may be too long for a temporary beside it
    return str(path)


# ---- names (no model) ------------------------------------------------------------------------------------------
def test_inputs_sharing_a_name_keep_their_folders(tmp_path):
    from avhubert_ami.cli.transcribe import list_inputs

    for rel in ("d1/x.wav", "d2/x.wav", "A/x.wav", "B/sub/x.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = [n for _, n in list_inputs([str(tmp_path / "d1/x.wav"), str(tmp_path / "d2/x.wav")])]
    assert names == [os.path.join("d1", "x"), os.path.join("d2", "x")]
    # folder inputs: the path below each folder, then the folders themselves when that is not enough
    names = [n for _, n in list_inputs([str(tmp_path / "A"), str(tmp_path / "B")])]
    assert names == ["x", os.path.join("sub", "x")]
    names = [n for _, n in list_inputs([str(tmp_path / "A"), str(tmp_path / "d1")])]
    assert names == [os.path.join("A", "x"), os.path.join("d1", "x")]
    # a file given twice (also inside a folder given) is transcribed once
    jobs = list_inputs([str(tmp_path / "d1"), str(tmp_path / "d1" / "x.wav")])
    assert [n for _, n in jobs] == ["x"]


def test_names_that_cannot_be_told_apart_are_refused_before_any_work(tmp_path):
    from avhubert_ami.cli.transcribe import list_inputs
    from avhubert_ami.transcribe import TranscribeError

    for rel in ("C/x.wav", "C/x.WAV"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    with pytest.raises(TranscribeError, match=r"would both be written as x_wav\.\*"):
        list_inputs([str(tmp_path / "C")])


# ---- with the tiny model -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(trained_checkpoint(tmp_path_factory) / "checkpoints" / "checkpoint_best.pt")


def _run(ckpt, inputs, out, *flags):
    from avhubert_ami.cli.transcribe import main

    argv = ["--path", ckpt, *map(str, inputs), "--output_dir", str(out), "--cpu", "--beam", "1", "--format", "json"]
    return main([*argv, *flags])


def test_two_inputs_named_alike_are_both_transcribed(ckpt, tmp_path, capsys):
    a, b = _wav(tmp_path / "d1" / "x.wav", 0), _wav(tmp_path / "d2" / "x.wav", 1)
    out = tmp_path / "out"
    assert _run(ckpt, [a, b], out) == 0
    assert "transcribed 2 file(s)" in capsys.readouterr().out
    inputs = {json.loads((out / d / "x.json").read_text())["input"] for d in ("d1", "d2")}
    assert inputs == {os.path.abspath(a), os.path.abspath(b)}


def test_another_inputs_transcript_is_not_replaced_by_a_later_run(ckpt, tmp_path, cli_error):
    from avhubert_ami.cli.transcribe import main

    a, b = _wav(tmp_path / "d1" / "x.wav", 0), _wav(tmp_path / "d2" / "x.wav", 1)
    out = tmp_path / "out"
    assert _run(ckpt, [a], out) == 0
    rc, line = cli_error(main, ["--path", ckpt, b, "--output_dir", str(out), "--cpu", "--format", "json"])
    assert rc == 2 and f"{out / 'x.json'} holds the transcript of {os.path.abspath(a)}" in line
    assert "--overwrite" in line
    assert _run(ckpt, [b], out, "--overwrite") == 0
    assert json.loads((out / "x.json").read_text())["input"] == os.path.abspath(b)


def test_output_folder_held_by_another_run_or_unwritable_is_refused(ckpt, tmp_path, cli_error):
    from avhubert_ami.cli.transcribe import main
    from avhubert_ami.prep.runtime.locking import output_lock

    a = _wav(tmp_path / "a.wav")
    out = tmp_path / "out"
    with output_lock(str(out)):  # another run writing there (its own open file: flock excludes it)
        rc, line = cli_error(main, ["--path", ckpt, a, "--output_dir", str(out), "--cpu"])
    assert rc == 2 and f"another run (pid {os.getpid()}) is writing to {out}" in line and "--wait" in line
    assert not (out / "a.json").exists()
    (tmp_path / "file").write_text("")
    rc, line = cli_error(main, ["--path", ckpt, a, "--output_dir", str(tmp_path / "file" / "out"), "--cpu"])
    assert rc == 2 and "cannot create the output folder" in line and "Not a directory" in line


def test_an_output_that_cannot_be_written_is_recorded_and_the_batch_goes_on(ckpt, tmp_path, capsys, monkeypatch):
    """A name too long for the file system (its temporary is longer still), then a full disk for one input."""
    import errno

    from avhubert_ami import files

    long_name = _wav(tmp_path / "in" / ("n" * 240 + ".wav"), 0)
    full = _wav(tmp_path / "in" / "full.wav", 1)
    fine = _wav(tmp_path / "in" / "fine.wav", 2)
    atomic_write = files.atomic_write

    def disk_full_for_one(path, *a, **k):
        if os.path.basename(path).startswith("full."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return atomic_write(path, *a, **k)

    monkeypatch.setattr(files, "atomic_write", disk_full_for_one)
    out = tmp_path / "out"
    rc = _run(ckpt, [long_name, full, fine], out)
    captured = capsys.readouterr()
    assert rc == 1 and "Traceback" not in captured.err
    assert (out / "fine.json").is_file()
    report = captured.out
    assert "transcribed 1 file(s)" in report and "FAILED 2 file(s):" in report
    assert "File name too long" in report and "No space left on device" in report


def test_no_input_transcribed_has_no_real_time_factor(ckpt, tmp_path, capsys):
    (tmp_path / "broken.mp4").write_bytes(b"not a video" * 50)
    assert _run(ckpt, [tmp_path / "broken.mp4"], tmp_path / "out") == 1
    assert "transcribed 0 file(s), 0.0 s of media in 0.0 s (real-time factor n/a)" in capsys.readouterr().out
