"""Length-bucketed training batches (``task.length_buckets``, ``task.pad_to_bucket``): every utterance once per
epoch, one bucket per batch within the token budget, less padding than length-blind batches, few shapes."""

from __future__ import annotations

import numpy as np
import pytest
from fairseq.data import data_utils
from omegaconf import OmegaConf

import avhubert_ami  # noqa: F401  registers the task
from avhubert_ami.tasks.length_buckets import (
    LengthBucketedDataset,
    bucket_batches,
    bucket_bounds,
    bucket_of,
    bucket_order,
    padding_fraction,
)
from avhubert_ami.testing.tiny_data import make_tiny_split

MAX_TOKENS = 4000


def _ami_like_sizes(n: int = 3000, seed: int = 0) -> np.ndarray:
    """Frames of AMI-IHM-like utterances (log-normal, median 2 s, 1-15 s at 25 fps), as benchmarks/gpu_step.py."""
    rng = np.random.default_rng(seed)
    return np.round(np.clip(rng.lognormal(np.log(2.0), 0.8, n), 1.0, 15.0) * 25).astype(np.int64)


def _epoch(sizes: np.ndarray, n_buckets: int, epoch: int):
    bounds = bucket_bounds(sizes, n_buckets)
    buckets = bucket_of(sizes, bounds)
    with data_utils.numpy_seed(1 + epoch):  # as fairseq seeds ordered_indices
        order = bucket_order(buckets)
    return bounds, buckets, bucket_batches(order, buckets, bounds, MAX_TOKENS)


def test_bounds_cover_every_size():
    sizes = _ami_like_sizes()
    bounds = bucket_bounds(sizes, 16)
    assert bounds[-1] == sizes.max() and np.all(np.diff(bounds) > 0) and len(bounds) <= 16
    buckets = bucket_of(sizes, bounds)
    assert np.all(sizes <= bounds[buckets])
    assert np.all(buckets == 0) | np.all(sizes[buckets > 0] > bounds[buckets[buckets > 0] - 1])  # the first fitting
    with pytest.raises(ValueError, match="length_buckets"):
        bucket_bounds(sizes, 0)


@pytest.mark.parametrize("n_buckets", [1, 8, 24])
def test_every_utterance_once_per_epoch_one_bucket_per_batch(n_buckets):
    sizes = _ami_like_sizes()
    compositions = []
    for epoch in (1, 2):
        bounds, buckets, batches = _epoch(sizes, n_buckets, epoch)
        flat = np.concatenate(batches)
        assert len(flat) == len(sizes) and np.array_equal(np.sort(flat), np.arange(len(sizes)))
        for batch in batches:
            assert len(set(buckets[batch].tolist())) == 1
            assert len(batch) * bounds[buckets[batch[0]]] <= MAX_TOKENS  # padded to the bound, within budget
        compositions.append({tuple(sorted(b.tolist())) for b in batches})
    assert compositions[0] != compositions[1]  # reshuffled inside the buckets every epoch


def test_padding_drops_with_buckets_and_shapes_stay_few():
    sizes = _ami_like_sizes()
    pads, padded_to_bound, shapes = {}, {}, {}
    for n in (1, 4, 12, 24):
        bounds, buckets, batches = _epoch(sizes, n, 1)
        pads[n] = padding_fraction(batches, sizes)
        padded_to_bound[n] = padding_fraction(batches, sizes, [bounds[buckets[b[0]]] for b in batches])
        shapes[n] = len({(len(b), int(bounds[buckets[b[0]]])) for b in batches})
    assert pads[1] > 0.4  # one bucket = length-blind batches
    assert pads[1] > pads[4] > pads[12] > pads[24] and pads[24] < 0.06
    # (fairseq's own batching, sorted by length, pads less still: 0.2 % of 30 000 such utterances, 2.5 % of these
    # 3 000; what buckets bring is few shapes and new batch compositions every epoch)
    assert padded_to_bound[24] < 0.06  # pad_to_bucket: hardly more padding ...
    assert shapes[24] <= 2 * 24  # ... for at most two batch shapes per bucket


def test_batch_size_limits():
    sizes = _ami_like_sizes(500)
    bounds = bucket_bounds(sizes, 6)
    buckets = bucket_of(sizes, bounds)
    order = bucket_order(buckets, np.random.RandomState(0))
    capped = bucket_batches(order, buckets, bounds, MAX_TOKENS, max_sentences=7)
    assert max(len(b) for b in capped) == 7
    multiple = bucket_batches(order, buckets, bounds, MAX_TOKENS, required_batch_size_multiple=8)
    per_bucket = {}
    for b in multiple:
        per_bucket.setdefault(int(buckets[b[0]]), []).append(len(b))
    full = [n for sizes_ in per_bucket.values() for n in sizes_[:-1]]  # each bucket's last batch takes the rest
    assert full and all(n % 8 == 0 for n in full)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("bucketdata"))
    make_tiny_split(d, n=10, split="train", frames=(12, 14, 16, 22, 25, 28, 33, 37, 41, 44))
    make_tiny_split(d, n=2, split="valid", frames=(12, 16))
    return d


def _task(data, **over):
    from fairseq import tasks

    return tasks.setup_task(OmegaConf.create({"_name": "ami_av", "data": data, **over}))


def test_task_batches_training_split_by_bucket_padded_to_bounds(data):
    task = _task(data, length_buckets=3, pad_to_bucket=True)
    task.load_dataset("train")
    task.load_dataset("valid")
    train = task.dataset("train")
    assert isinstance(train, LengthBucketedDataset) and not isinstance(task.dataset("valid"), LengthBucketedDataset)
    assert train.opts.train and train.where(0)  # the wrapped dataset's attributes
    itr = task.get_batch_iterator(train, max_tokens=100, seed=1, epoch=1).next_epoch_itr(shuffle=True)
    seen = []
    for batch in itr:
        frames = batch["net_input"]["padding_mask"].size(1)
        assert frames in train.bounds.tolist()  # padded to its bucket's bound
        assert batch["net_input"]["source"]["video"].size(2) == frames == batch["net_input"]["source"]["audio"].size(2)
        lengths = (~batch["net_input"]["padding_mask"]).sum(1)
        assert lengths.tolist() == [train.dataset.sizes[i] for i in batch["id"].tolist()]  # real frames unmasked
        assert (
            batch["target"].size(1) % 8 == 0 and batch["net_input"]["prev_output_tokens"].shape == batch["target"].shape
        )
        assert batch["ntokens"] == int(batch["target_lengths"].sum())
        seen += batch["id"].tolist()
    assert sorted(seen) == list(range(10))


def test_pad_to_bucket_without_buckets_is_refused(data):
    task = _task(data, pad_to_bucket=True)
    with pytest.raises(ValueError, match="pad_to_bucket needs task.length_buckets"):
        task.load_dataset("train")
