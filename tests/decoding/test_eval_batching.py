"""Evaluation splits are decoded whole whatever --required-batch-size-multiple says (fairseq's batch_by_size drops
a last batch whose size is not a multiple of it: fairseq-generate scored 8 of 10 utterances, crashed on 4)."""

import re
import shutil

import pytest
from fairseq import options
from omegaconf import OmegaConf

from avhubert_ami.testing.tiny_data import make_tiny_split
from tests.support.decoding import generate_args
from tests.support.training import trained_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("batching"))
    make_tiny_split(d, n=10, split="train", frames=(12, 16))
    make_tiny_split(d, n=10, split="valid", frames=(12, 16))
    make_tiny_split(d, n=4, split="test", frames=(12, 16))
    return d


def _n_utterances(task, split, multiple):
    task.load_dataset(split)
    itr = task.get_batch_iterator(
        task.dataset(split), max_sentences=8, required_batch_size_multiple=multiple, ignore_invalid_inputs=True
    ).next_epoch_itr(shuffle=False)
    return sum(len(batch["id"]) for batch in itr)


@pytest.mark.parametrize("split,n", [("valid", 10), ("test", 4)])
def test_every_evaluation_utterance_is_batched(data, split, n):
    from fairseq import tasks

    task = tasks.setup_task(OmegaConf.create({"_name": "ami_av", "data": data}))
    assert _n_utterances(task, split, multiple=8) == n


def test_train_split_keeps_fairseqs_batching(data):
    from fairseq import tasks

    task = tasks.setup_task(OmegaConf.create({"_name": "ami_av", "data": data}))
    assert _n_utterances(task, "train", multiple=8) == 8  # the last partial batch is dropped, as fairseq does


@pytest.mark.parametrize("n", [4, 10])
def test_fairseq_generate_without_the_batch_flag_scores_every_utterance(tmp_path_factory, tmp_path, n):
    from fairseq_cli import generate

    run_dir = trained_checkpoint(tmp_path_factory)
    data = tmp_path / "data"
    data.mkdir()
    for name in ("spm.model", "dict.wrd.txt"):
        shutil.copy(run_dir.parent / "data" / name, data / name)
    make_tiny_split(str(data), n=n, split="test", frames=(12, 16))
    checkpoint = run_dir / "checkpoints" / "checkpoint_last.pt"
    flags = ["--scoring", "wer", "--post-process", "sentencepiece", "--results-path", str(tmp_path / "out")]
    # no --required-batch-size-multiple: fairseq's default 8
    generate_argv = generate_args(data, checkpoint, *flags, beam=1, batch_size=8, max_len_b=5)
    args = options.parse_args_and_arch(options.get_generation_parser(), generate_argv)
    generate.main(args)
    out = (tmp_path / "out" / "generate-test.txt").read_text()
    assert len(re.findall(r"^D-\d+\t", out, flags=re.M)) == n
