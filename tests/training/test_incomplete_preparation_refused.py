"""The guide CLI refuses a manifest folder whose preparation did not finish ({split}.incomplete)."""

from avhubert_ami.cli import finetune as cli
from tests.support.training import tiny_data


def test_incomplete_split_is_refused_before_any_work(tmp_path, capsys):
    data = tiny_data(tmp_path / "data")
    (data / "valid.incomplete").write_text("preparation of 'valid' has not finished\n")
    assert cli.main(["--output_dir", str(tmp_path / "o"), "--dataset_name", str(data), "--do_train"]) == 2
    err = capsys.readouterr().err
    assert "valid.incomplete: the preparation of split 'valid'" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "checkpoints").exists()
