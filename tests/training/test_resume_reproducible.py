"""A resumed run sees the same batches and augmentation draws as an uninterrupted one, so it ends bit-identical.

Two fairseq defaults broke this (task fields ``rebuild_batches`` / ``persistent_workers`` of ami_av fix them):
batches were formed once, seeded by the epoch the process started in (a resumed process started in a later
epoch, so it batched differently), and persistent loader workers kept the dataset epoch they started with (it
seeds the per-utterance augmentation draws), so a resumed run's workers drew differently.
"""

import subprocess

import pytest
import torch
from fairseq import tasks
from omegaconf import OmegaConf

from avhubert_ami.testing.tiny_data import make_tiny_split
from tests.support.processes import quiet_env
from tests.support.training import hydra_train_cmd, tiny_data


def _epoch_batches(itr):
    """(utterance ids, sum of the video input) of every batch of the iterator's next epoch."""
    out = []
    for batch in itr.next_epoch_itr(shuffle=True):
        out.append((batch["utt_id"], float(batch["net_input"]["source"]["video"].double().sum())))
    return out


def test_epoch_two_is_the_same_whether_the_process_started_in_epoch_one_or_two(tmp_path):
    data = str(tmp_path)
    make_tiny_split(data, n=8, split="train", frames=(12, 12, 16, 16))  # equal sizes: batching draws decide

    def iterator(epoch):
        task = tasks.setup_task(OmegaConf.create({"_name": "ami_av", "data": data}))
        task.load_dataset("train")
        return task.get_batch_iterator(task.dataset("train"), max_sentences=2, seed=1, epoch=epoch, num_workers=1)

    uninterrupted = iterator(1)
    _epoch_batches(uninterrupted)
    assert _epoch_batches(uninterrupted) == _epoch_batches(iterator(2))


@pytest.mark.slow
def test_stopped_and_resumed_training_is_bit_identical(tmp_path):
    data = tiny_data(tmp_path / "data")  # 6 rows, batch 3: 2 updates per epoch, so update 3 is mid-epoch 2

    def train(run, max_update):
        p = subprocess.run(
            hydra_train_cmd(data, tmp_path / run, [f"optimization.max_update={max_update}"]),
            capture_output=True,
            text=True,
            env=quiet_env(),
            timeout=400,
        )
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]

    train("straight", 6)
    train("resumed", 3)
    train("resumed", 6)
    a, b = (
        torch.load(tmp_path / run / "checkpoints" / "checkpoint_last.pt", map_location="cpu")
        for run in ("straight", "resumed")
    )
    assert a["optimizer_history"][-1]["num_updates"] == b["optimizer_history"][-1]["num_updates"] == 6
    differing = [k for k in a["model"] if not torch.equal(a["model"][k], b["model"][k])]
    assert not differing, differing
