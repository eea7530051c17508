"""An empty (0-byte) checkpoint is one line naming the file and what is wrong with it, wherever the guide meets it:
as --model_name_or_path, as the checkpoint_last.pt a re-run resumes from, and in fairseq's own loader (the error
formatter crashed with an IndexError on the empty message, elsewhere the reason was empty)."""

from __future__ import annotations

import pytest

from avhubert_ami.cli import finetune
from avhubert_ami.errors import CheckpointReadError
from tests.support.training import guide_args, tiny_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("unreadable_data"))


def test_an_empty_model_name_or_path(tmp_path, data, cli_error):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    rc, line = cli_error(finetune.main, guide_args(tmp_path / "run", data, "--model_name_or_path", str(empty)))
    assert rc == 1
    assert line.endswith(f"{empty}: unreadable checkpoint, not a torch checkpoint (0 bytes)")


def test_an_empty_checkpoint_last_to_resume_from(tmp_path, data, cli_error):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint_last.pt").write_bytes(b"")
    rc, line = cli_error(finetune.main, guide_args(out, data, "--max_steps", "1"))
    assert rc == 1
    assert "checkpoint_last.pt is not a torch checkpoint (0 bytes)" in line and "move it away" in line
    assert not (out / "hydra_train.log").exists()


def test_fairseqs_loader_names_an_empty_file_and_its_problem(tmp_path):
    import avhubert_ami

    avhubert_ami.load_plugin()
    from fairseq import checkpoint_utils

    empty = tmp_path / "checkpoint_best.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointReadError) as caught:
        checkpoint_utils.load_checkpoint_to_cpu(str(empty))
    message = str(caught.value)
    assert message.startswith(f"{empty}: unreadable checkpoint, not a torch checkpoint (0 bytes)")
    assert "()" not in message  # an empty reason
