"""Data-loading throughput: AVHubertDataset vs a naive upstream-style loader, same data, same run.

Baseline (what upstream AV-HuBERT's loader does, ported to PyAV): decode frame by frame to
BGR, convert each frame to gray, keep a Python list; per-frame /255, crop, flip and
normalise; stack; audio via scipy wavfile + python_speech_features + a Python loop stacking
4 frames at a time. Ours: one-pass gray decode with one swscale context, transforms on the
whole T x H x W array, strided-view filterbank. Both go through the same collater.

    python benchmarks/loader.py [--n 16] [--frames 75] [--codec libx264] [--reps 3]

Prints utterances/s for each (wall clock and per CPU-second of this process) and, last, the
ratio ours / baseline (``--clock cpu`` by default: on a shared machine CPU time is what stays
comparable between the two loaders; DataLoader workers scale it by their number).
"""

import argparse
import os
import random
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avhubert_ami.data.dataset import AVHubertDataset, DataOptions  # noqa: E402
from avhubert_ami.data.manifest import load_split  # noqa: E402
from avhubert_ami.data.video import FrameConverter  # noqa: E402
from avhubert_ami.testing.tiny_data import make_tiny_split  # noqa: E402


class NaiveLoader:
    """Upstream-style per-item loading (frame lists, per-frame transforms, Python stacking)."""

    def __init__(self, ds: AVHubertDataset, crop: int = 88, mean: float = 0.421, std: float = 0.165) -> None:
        self.ds, self.crop, self.mean, self.std = ds, crop, mean, std

    def load_video(self, path: str) -> np.ndarray:
        import av

        frames, converter = [], FrameConverter()
        with av.open(path) as container:
            for frame in container.decode(video=0):
                bgr = converter.array(frame, "bgr24").astype(np.float32)
                frames.append(
                    (0.114 * bgr[..., 0] + 0.587 * bgr[..., 1] + 0.299 * bgr[..., 2]).round().astype(np.uint8)
                )
        out = []
        h, w = frames[0].shape
        dh, dw = random.randint(0, h - self.crop), random.randint(0, w - self.crop)
        flip = random.random() < 0.5
        for f in frames:
            f = f / 255.0
            f = f[dh : dh + self.crop, dw : dw + self.crop]
            if flip:
                f = np.fliplr(f)
            out.append((f - self.mean) / self.std)
        return np.stack(out).astype(np.float32)

    def load_audio(self, path: str, n_frames: int) -> torch.Tensor:
        from python_speech_features import logfbank
        from scipy.io import wavfile

        rate, pcm = wavfile.read(path)
        feats = logfbank(pcm, samplerate=rate).astype(np.float32)
        stacked = []
        for i in range(0, len(feats), 4):
            chunk = feats[i : i + 4]
            if len(chunk) < 4:
                chunk = np.concatenate([chunk, np.zeros((4 - len(chunk), feats.shape[1]), np.float32)])
            stacked.append(np.concatenate(list(chunk)))
        feats = np.stack(stacked)
        diff = len(feats) - n_frames
        if diff < 0:
            feats = np.concatenate([feats, np.zeros((-diff, feats.shape[1]), np.float32)])
        elif diff > 0:
            feats = feats[:-diff]
        out = torch.from_numpy(feats)
        return F.layer_norm(out, out.shape[1:])

    def __getitem__(self, index: int) -> dict:
        row = self.ds.manifest.rows[self.ds.row_index[index]]
        video = torch.from_numpy(self.load_video(row.video))
        audio = self.load_audio(row.audio, len(video))
        return {
            "id": index,
            "utt_id": row.id,
            "audio": audio,
            "video": video,
            "present": (True, True),
            "length": len(video),
            "label": self.ds.labels[index],
        }


def one_pass(loader, collate, n: int, batch: int = 4) -> np.ndarray:
    """``[wall, cpu]`` seconds to load and collate ``n`` utterances (cpu = this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for b in range(0, n, batch):
        collate([loader[i] for i in range(b, min(n, b + batch))])
    return np.array([time.perf_counter() - wall, time.process_time() - cpu])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16, help="utterances")
    parser.add_argument("--frames", type=int, default=75, help="video frames per utterance (25 fps)")
    parser.add_argument("--codec", choices=["libx264", "ffv1"], default="libx264")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--torch_threads", type=int, default=1, help="torch intra-op threads (DataLoader workers run with 1)"
    )
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="which timing gives the final ratio (cpu: robust on a shared machine)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)

    with tempfile.TemporaryDirectory() as d:
        make_tiny_split(
            d, n=args.n, split="train", frames=(args.frames,), video_ext=".mp4" if args.codec == "libx264" else ".mkv"
        )
        manifest, texts = load_split(d, "train")
        import sentencepiece as spm
        from fairseq.data import Dictionary

        sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "spm.model"))
        ds = AVHubertDataset(
            manifest,
            texts,
            Dictionary.load(os.path.join(d, "dict.wrd.txt")),
            lambda t: " ".join(sp.encode(t, out_type=str)),
            DataOptions(train=True, image_aug=True),
        )
        naive = NaiveLoader(ds)
        a, b = ds[0], naive[0]
        assert a["video"].shape == b["video"].shape and torch.allclose(a["audio"], b["audio"], atol=1e-4), (
            "loaders disagree"
        )
        one_pass(ds, ds.collater, min(4, args.n))  # warm-up (imports, caches)
        one_pass(naive, ds.collater, min(4, args.n))
        t_base, t_ours = np.zeros(2), np.zeros(2)
        for _ in range(args.reps):  # interleaved, so load changes on the machine hit both alike
            t_base += one_pass(naive, ds.collater, args.n)
            t_ours += one_pass(ds, ds.collater, args.n)
        base, ours = args.n * args.reps / t_base, args.n * args.reps / t_ours
    print(
        f"utterances: {args.n} x {args.frames} frames ({args.frames / 25:.1f} s), codec {args.codec}, "
        f"{args.reps} interleaved passes, 1 process, torch threads {args.torch_threads}"
    )
    k = 1 if args.clock == "cpu" else 0
    print(f"baseline (upstream-style): {base[0]:.1f} utt/s wall, {base[1]:.1f} utt/s per CPU-second")
    print(f"ours (AVHubertDataset):    {ours[0]:.1f} utt/s wall, {ours[1]:.1f} utt/s per CPU-second")
    print(f"wall-clock ratio: {ours[0] / base[0]:.2f}x; CPU-time ratio: {ours[1] / base[1]:.2f}x")
    print(f"ratio ({args.clock}): {ours[k] / base[k]:.2f}x")


if __name__ == "__main__":
    main()
