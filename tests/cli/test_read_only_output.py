"""A read-only output folder is one line, never a traceback, for the commands of this part of issue 24 that lacked
a test of it: avhubert-synth-ami (corpus and meetings) and the guide CLI."""

from __future__ import annotations

from avhubert_ami.cli import finetune, synth_ami
from tests.support.training import tiny_data


def test_synth_ami_into_a_read_only_folder(read_only_dir, cli_error):
    for extra in ([], ["--meetings", "1", "--meeting_minutes", "0.1"]):
        rc, line = cli_error(synth_ami.main, ["--output_dir", str(read_only_dir / "corpus"), "--quiet", *extra])
        assert rc in (1, 2)
        assert str(read_only_dir) in line and ("Read-only file system" in line or "Permission denied" in line)


def test_the_guide_into_a_read_only_folder(read_only_dir, tmp_path, cli_error):
    data = tiny_data(tmp_path / "data")
    argv = ["--output_dir", str(read_only_dir / "run"), "--dataset_name", str(data), "--do_train"]
    rc, line = cli_error(finetune.main, argv)
    assert rc == 2
    assert f"--output_dir {read_only_dir / 'run'}: cannot write there" in line
