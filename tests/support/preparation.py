"""Tiny generated inputs for the preparation tests (no downloads, a few seconds of media), the conversion they run,
and what they check the outputs with."""

from __future__ import annotations

import io
import os
from typing import Dict, List, Optional

import numpy as np
import pytest
import soundfile as sf

from avhubert_ami.data.video import write_video
from avhubert_ami.testing.media import tone

SENTENCES = [
    "Hello, world! This is a TEST.",
    "um the meeting starts now",
    "we should uh look at the remote control design",
    "yeah mm-hmm okay th- that's fine",
    "the budget is twelve euro fifty",
    "let's move on to the next item",
]


def wav_bytes(wave: np.ndarray, sr: int) -> bytes:
    """A wav file's bytes."""
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def lip_frames(n: int, h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """(n, h, w, 3) uint8 RGB frames with a moving blob (a stand-in lip clip)."""
    rng = np.random.default_rng(seed)
    frames = np.full((n, h, w, 3), 40, dtype=np.uint8)
    for i in range(n):
        y, x = h // 2 + int(5 * np.sin(i / 3)), w // 2
        frames[i, y - 6 : y + 6, x - 12 : x + 12] = 200
    frames += rng.integers(0, 10, size=frames.shape, dtype=np.uint8)
    return frames


def make_hf_dataset(root: str, video_form: str = "path", bad_rows: bool = True) -> str:
    """Save a DatasetDict (train/validation/test) with audio/lip_video/transcript columns under
    ``root/hf`` and return its path.

    ``video_form``: ``"path"`` (relative mp4/avi paths, 30 fps, non-square RGB) or ``"array"``
    (T x H x W x 3 frames at 25 fps). Audio is 44.1 kHz stereo wav bytes (an HF ``Audio`` feature).
    With ``bad_rows`` train also holds: an empty transcript, a row with neither modality, an
    audio-only row, a video-only row, corrupt audio bytes, and an audio/video length mismatch.
    """
    import datasets

    path = os.path.join(root, "hf")
    os.makedirs(os.path.join(path, "clips"), exist_ok=True)

    def row(
        split: str,
        i: int,
        seconds: float,
        text: str,
        audio: bool = True,
        video: bool = True,
        audio_seconds: Optional[float] = None,
        corrupt: bool = False,
    ) -> Dict:
        sr = 44100
        a = None
        if audio:
            data = b"not a wav file" if corrupt else wav_bytes(tone(audio_seconds or seconds, sr, 200 + 20 * i, 2), sr)
            a = {"bytes": data, "path": f"{split}_{i}.wav"}
        v = None
        if video and video_form == "path":
            rel = os.path.join("clips", f"{split}_{i}.avi")
            write_video(os.path.join(path, rel), lip_frames(int(round(seconds * 30)), seed=i), fps=30.0)
            v = rel
        elif video:
            v = lip_frames(int(round(seconds * 25)), seed=i)
        return {"id": f"{split}_{i:03d}", "audio": a, "lip_video": v, "transcript": text}

    splits: Dict[str, List[Dict]] = {}
    for split, n in (("train", 4), ("validation", 2), ("test", 2)):
        splits[split] = [row(split, i, 1.0 + 0.2 * i, SENTENCES[i % len(SENTENCES)]) for i in range(n)]
    if bad_rows:
        splits["train"] += [
            row("train", 10, 1.0, "   "),  # empty transcript
            row("train", 11, 1.0, "no media at all", audio=False, video=False),
            row("train", 12, 1.2, "audio only row", video=False),
            row("train", 13, 1.2, "video only row", audio=False),
            row("train", 14, 1.0, "corrupt audio", corrupt=True),
            row("train", 15, 1.0, "way too long audio", audio_seconds=2.0),
        ]
    video_feature = (
        datasets.Value("string") if video_form == "path" else datasets.Array4D(shape=(None, 64, 80, 3), dtype="uint8")
    )
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
            "lip_video": video_feature,
            "transcript": datasets.Value("string"),
        }
    )
    dd = datasets.DatasetDict(
        {  # encoding into Audio() needs torchcodec: cast the {bytes, path} struct instead
            split: datasets.Dataset.from_list(rows, features=features.copy()).cast_column("audio", datasets.Audio())
            for split, rows in splits.items()
        }
    )
    dd.save_to_disk(path)
    return path


def convert_hf(dataset: str, out: str, *flags: str):
    """``avhubert-hf-to-manifest --dataset_name DATASET --output_dir OUT FLAGS...`` in this process; its summary."""
    from avhubert_ami.cli import hf_to_manifest

    argv = ["--dataset_name", dataset, "--output_dir", out, *flags]
    return hf_to_manifest.convert(hf_to_manifest.build_parser().parse_args(argv))


def mtimes(folder) -> Dict[str, int]:
    """{path: modification time in ns} of every file under ``folder`` (a re-run that rewrites nothing keeps it)."""
    return {
        os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, files in os.walk(folder) for f in files
    }


def need_landmark_backend(backend: str) -> None:
    """Skip the calling test unless the mouth-ROI landmark ``backend``'s optional packages are installed."""
    if backend == "mediapipe":
        pytest.importorskip("mediapipe")
    if backend == "dlib":
        pytest.importorskip("dlib")
        import importlib.util

        if importlib.util.find_spec("face_recognition_models") is None:  # (importing it needs pkg_resources)
            pytest.skip("face_recognition_models is not installed")
