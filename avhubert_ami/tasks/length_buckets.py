"""Length-bucketed training batches (``task.length_buckets``, ``task.pad_to_bucket``).

fairseq's own batching (the default) sorts the split by length and cuts the sorted list into batches: padding is
already small (about 2.5 % of the frames at AMI-like lengths and ``max_tokens`` 4000), but nearly every batch has
a shape of its own and the same neighbours every epoch. Buckets instead split the utterances into ``n`` length
ranges with geometric bounds (each bound a constant factor above the last), shuffle each range every epoch, and
cut it into batches of ``max_tokens // bound`` utterances. With ``pad_to_bucket`` a batch is padded to its
bucket's bound (and its targets to a multiple of 8 tokens), so training sees at most two shapes per bucket (full
batches and the bucket's last one): few enough for cuDNN autotuning (``model.cudnn_benchmark``) and
``torch.compile`` (``model.compile_layers``) to pay for themselves. Padded frames are masked like any other padding
(the video ResNet's batch statistics do see them, as they see every batch's padding).

The pure functions (:func:`bucket_bounds`, :func:`bucket_order`, :func:`bucket_batches`) serve the task's
:class:`LengthBucketedDataset` and ``benchmarks/gpu_step.py`` alike.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import torch
from fairseq.data import BaseWrapperDataset

#: target (and decoder input) lengths are padded to a multiple of this with ``pad_to_bucket``
TARGET_MULTIPLE = 8


def bucket_bounds(sizes: np.ndarray, n_buckets: int) -> np.ndarray:
    """Upper bounds (frames, ascending, unique) of ``n_buckets`` geometric length ranges covering ``sizes``."""
    if n_buckets < 1:
        raise ValueError(f"length_buckets must be >= 1, got {n_buckets}")
    sizes = np.asarray(sizes)
    lo, hi = max(1, int(sizes.min())), int(sizes.max())
    bounds = np.unique(np.ceil(np.geomspace(lo, hi, n_buckets + 1)[1:]).astype(np.int64))
    bounds[-1] = hi  # rounding never leaves the longest utterance outside
    return bounds


def bucket_of(sizes: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Bucket index of each size: the first bucket whose bound is >= the size."""
    return np.minimum(np.searchsorted(bounds, np.asarray(sizes), side="left"), len(bounds) - 1)


def bucket_order(buckets: np.ndarray, rng: Optional[np.random.RandomState] = None) -> np.ndarray:
    """Indices grouped by bucket, longest bucket first (fairseq's longest-first, so a too large ``max_tokens``
    fails at once), in random order inside each bucket (``rng``, default numpy's global state)."""
    perm = (rng or np.random).permutation(len(buckets))
    return perm[np.argsort(-buckets[perm], kind="stable")]


def bucket_batches(
    order: np.ndarray,
    buckets: np.ndarray,
    bounds: np.ndarray,
    max_tokens: Optional[int],
    max_sentences: Optional[int] = None,
    required_batch_size_multiple: int = 1,
) -> List[np.ndarray]:
    """Cut ``order`` (as :func:`bucket_order` makes it) into batches of one bucket each, ``max_tokens // bound``
    utterances (at most ``max_sentences``; a multiple of ``required_batch_size_multiple`` when larger than it)."""
    batches: List[np.ndarray] = []
    if len(order) == 0:
        return batches
    ids = buckets[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], len(order)]):
        bound = int(bounds[ids[start]])
        size = max(1, int(max_tokens) // bound) if max_tokens else stop - start
        if max_sentences:
            size = min(size, int(max_sentences))
        mult = max(1, int(required_batch_size_multiple))
        if size > mult:
            size -= size % mult
        batches += [order[i : min(i + size, stop)] for i in range(start, stop, size)]
    return batches


def padding_fraction(batches: List[np.ndarray], sizes: np.ndarray, padded_to: Optional[np.ndarray] = None) -> float:
    """Share of padded frames in ``batches`` (each padded to its longest, or to ``padded_to[k]``)."""
    real = padded = 0
    for k, batch in enumerate(batches):
        lengths = sizes[batch]
        real += int(lengths.sum())
        padded += len(batch) * int(lengths.max() if padded_to is None else padded_to[k])
    return 1.0 - real / padded if padded else 0.0


class LengthBucketedDataset(BaseWrapperDataset):
    """A training split batched by length buckets (see the module docstring); every other attribute is the
    wrapped dataset's."""

    def __init__(self, dataset, n_buckets: int, pad_to_bucket: bool = False, pad_idx: int = 1) -> None:
        super().__init__(dataset)
        self.sizes_vec = np.asarray(dataset.num_tokens_vec(np.arange(len(dataset))))
        self.bounds = bucket_bounds(self.sizes_vec, n_buckets)
        self.buckets = bucket_of(self.sizes_vec, self.bounds)
        self.pad_to_bucket = bool(pad_to_bucket)
        self.pad_idx = pad_idx

    def __getattr__(self, name: str) -> Any:  # the wrapped dataset's options, manifest, where(), ...
        if name == "dataset":  # not set yet (unpickling): avoid recursing
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def num_tokens_vec(self, indices: np.ndarray) -> np.ndarray:
        return self.dataset.num_tokens_vec(indices)

    def ordered_indices(self) -> np.ndarray:
        """Grouped by bucket, shuffled inside each (fairseq calls this under ``numpy_seed(seed + epoch)``)."""
        return bucket_order(self.buckets)

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        return bucket_batches(
            np.asarray(indices, dtype=np.int64),
            self.buckets,
            self.bounds,
            max_tokens,
            max_sentences,
            required_batch_size_multiple,
        )

    def collater(self, samples: List[Dict]) -> Dict:
        batch = self.dataset.collater(samples)
        if not self.pad_to_bucket or not batch:
            return batch
        net = batch["net_input"]
        frames = net["padding_mask"].size(1)
        k = int(bucket_of(np.array([frames]), self.bounds)[0])
        target_frames = max(frames, int(self.bounds[k]))
        return pad_batch(batch, target_frames, TARGET_MULTIPLE, self.pad_idx)


def pad_batch(batch: Dict, frames: int, target_multiple: int, pad_idx: int) -> Dict:
    """Pad a collated batch to ``frames`` frames and its targets to a multiple of ``target_multiple`` tokens
    (new frames are padding in ``padding_mask``; new target positions are ``pad_idx``, which the losses ignore)."""
    net = batch["net_input"]
    extra = frames - net["padding_mask"].size(1)
    src = dict(net["source"])
    if extra > 0:
        if src.get("audio") is not None:  # B x F x T
            src["audio"] = torch.nn.functional.pad(src["audio"], (0, extra))
        if src.get("video") is not None:  # B x 1 x T x H x W
            src["video"] = torch.nn.functional.pad(src["video"], (0, 0, 0, 0, 0, extra))
        mask = torch.nn.functional.pad(net["padding_mask"], (0, extra), value=True)
    else:
        mask = net["padding_mask"]
    out = dict(batch)
    out["net_input"] = dict(net, source=src, padding_mask=mask)
    length = batch["target"].size(1)
    grow = -length % target_multiple
    if grow:
        out["target"] = torch.nn.functional.pad(batch["target"], (0, grow), value=pad_idx)
        out["net_input"]["prev_output_tokens"] = torch.nn.functional.pad(
            net["prev_output_tokens"], (0, grow), value=pad_idx
        )
    return out
