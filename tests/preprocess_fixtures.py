"""Tiny generated inputs for the preprocessing tests (no downloads, a few seconds of media)."""

from __future__ import annotations

import io
import os
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import soundfile as sf

from avhubert_ami.data.video import write_video

SENTENCES = [
    "Hello, world! This is a TEST.",
    "um the meeting starts now",
    "we should uh look at the remote control design",
    "yeah mm-hmm okay th- that's fine",
    "the budget is twelve euro fifty",
    "let's move on to the next item",
]


def tone(seconds: float, sr: int = 16000, freq: float = 220.0, channels: int = 1) -> np.ndarray:
    """A quiet sine (N,) or (N, C) float32."""
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave] * channels, axis=1)


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


# Mouth centre of skimage.data.astronaut() (512x512), from MediaPipe face mesh and checked by eye.
ASTRONAUT_MOUTH = np.array([223.5, 146.0])


def iter_astronaut_frames(n: int, size=(288, 352), blank=(), zoom: float = 1.0) -> Iterator[tuple]:
    """``(rgb (H,W,3) uint8, mouth centre (2,))`` per frame of :func:`astronaut_frames`, one at a time
    (a minutes-long benchmark clip does not fit in memory as RGB)."""
    import cv2
    from skimage import data

    img = data.astronaut()
    h, w = size
    blank = set(blank)
    for i in range(n):
        s = zoom * (0.9 + 0.2 * i / max(n - 1, 1))
        tx, ty = 15 * np.sin(i / 8), 8 * np.cos(i / 10)
        m = np.array([[s, 0, w / 2 - s * 224 + tx], [0, s, h / 2 - s * 140 + ty]])
        frame = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        if i in blank:
            frame[:] = 128
        yield frame, m[:, :2] @ ASTRONAUT_MOUTH + m[:, 2]


def astronaut_frames(n: int, size=(288, 352), blank=(), zoom: float = 1.0) -> tuple:
    """A face clip: the astronaut photo moving and zooming in a ``size`` (H, W) frame, like an AMI
    close-up (352x288, small face). Returns ``(rgb (n,H,W,3) uint8, mouth centre per frame (n,2))``;
    frames listed in ``blank`` are uniform gray (no face); ``zoom`` scales the face (0.4: ~50 px wide)."""
    frames, mouths = zip(*iter_astronaut_frames(n, size, blank, zoom))
    return np.stack(frames), np.stack(mouths)


NXT = 'xmlns:nite="http://nite.sourceforge.net/"'
# meeting -> [(agent, global name, channel, camera attribute or None, [(start, end, words)])]
# Words are spread evenly over a segment; punctuation is zero-length at the previous word's end and
# "word-" is a truncated word, as in AMI's words.xml. ES2004a's segment holds a full stop mid-way
# (lhotse's segmentation splits it into two utterances).
AMI_MEETINGS = {
    "ES2002a": [
        ("A", "MEE006", 1, "Closeup1", [(0.5, 1.7, "Okay , um let's start"), (2.2, 3.4, "the remote con- control")]),
        ("B", "FEE005", 2, "2", [(1.8, 2.1, "mm-hmm")]),
    ],
    "ES2011a": [("A", "MEE040", 1, "Closeup1", [(0.4, 1.6, "Hello everybody .")])],
    "ES2004a": [("C", "MEE012", 3, "Closeup3", [(0.6, 3.0, "So the design is done . Any questions ?")])],
    "XX9999a": [("A", "MEE000", 1, "Closeup1", [(0.5, 1.5, "not in the partition")])],
}


def _ami_words(mid: str, agent: str, segs: list) -> tuple:
    """``(words.xml lines, segments.xml lines)`` of one speaker, NXT-style."""
    words = [f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<nite:root nite:id="{mid}.{agent}.words" {NXT}>']
    seg_xml = [f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<nite:root nite:id="{mid}.{agent}.segs" {NXT}>']
    wid = 0
    for si, (start, end, text) in enumerate(segs):
        toks = text.split()
        step = (end - start) / sum(tok not in ".,?" for tok in toks)
        first, t = wid, start
        for tok in toks:
            if tok in ".,?":
                ws = we = t
                attrs = ' punc="true"'
            else:
                ws, we = t, t + step
                t, attrs = we, ""
            if tok.endswith("-"):
                tok, attrs = tok[:-1], ' trunc="true"'
            words.append(
                f'  <w nite:id="{mid}.{agent}.words{wid}" starttime="{ws:.2f}" endtime="{we:.2f}"{attrs}>{tok}</w>'
            )
            wid += 1
            if tok == "um":
                words.append(f'  <disfmarker nite:id="{mid}.{agent}.words{wid}"/>')
                wid += 1
        words.append(
            f'  <vocalsound nite:id="{mid}.{agent}.words{wid}" starttime="{end:.2f}" endtime="{end:.2f}" type="laugh"/>'
        )
        wid += 1
        seg_xml.append(
            f'  <segment nite:id="{mid}.sync.{si}" transcriber_start="{start}" transcriber_end="{end}">\n'
            f'    <nite:child href="{mid}.{agent}.words.xml#id({mid}.{agent}.words{first})'
            f'..id({mid}.{agent}.words{wid - 2})"/>\n'
            "  </segment>"
        )
    return words, seg_xml


def make_ami_tree(
    root: str,
    seconds: float = 4.0,
    zip_annotations: bool = False,
    drop_camera: bool = False,
    meetings: Optional[dict] = None,
    write_closeup: Optional[Callable[[str], None]] = None,
) -> str:
    """A tiny AMI corpus in the real layout under ``root``: ``amicorpus/<meeting>/{audio,video}`` with
    headset wavs (16 kHz), a mixed array wav and 25 fps 352x288 close-ups of the astronaut's face,
    plus hand-written NXT annotations in ``ami_public_manual_1.6.2/`` (or its ``.zip``). Returns ``root``.

    ``meetings`` replaces :data:`AMI_MEETINGS` (same form); ``write_closeup(path)`` replaces the close-up
    writer (default: the same short FFV1 clip for every camera), e.g. for long MPEG-4 benchmark clips."""
    import zipfile

    from avhubert_ami.data.audio import write_audio

    ann = os.path.join(root, "ami_public_manual_1.6.2")
    for sub in ("words", "segments", "corpusResources"):
        os.makedirs(os.path.join(ann, sub), exist_ok=True)
    if write_closeup is None:
        rgb, _ = astronaut_frames(int(seconds * 25))

        def write_closeup(path: str) -> None:
            write_video(path, rgb, fps=25.0)

    meetings_xml = [f'<?xml version="1.0" encoding="UTF-8"?>\n<nite:root {NXT}>']
    for mid, speakers in (AMI_MEETINGS if meetings is None else meetings).items():
        mdir = os.path.join(root, "amicorpus", mid)
        meetings_xml.append(f'  <meeting observation="{mid}" duration="{seconds}">')
        array = 0.0  # the room mix of all headsets
        for k, (agent, name, channel, camera, segs) in enumerate(speakers):
            cam = "" if camera is None or (drop_camera and agent == "B") else f' camera="{camera}"'
            meetings_xml.append(f'    <speaker nxt_agent="{agent}" global_name="{name}" channel="{channel}"{cam}/>')
            headset = tone(seconds, 16000, 180 + 40 * k)
            write_audio(os.path.join(mdir, "audio", f"{mid}.Headset-{channel}.wav"), headset)
            array = array + headset / len(speakers)
            if camera is not None:
                n = camera[-1]
                write_closeup(os.path.join(mdir, "video", f"{mid}.Closeup{n}.avi"))
            words, seg_xml = _ami_words(mid, agent, segs)
            for sub, lines, kind in (("words", words, "words"), ("segments", seg_xml, "segments")):
                with open(os.path.join(ann, sub, f"{mid}.{agent}.{kind}.xml"), "w") as f:
                    f.write("\n".join(lines + ["</nite:root>"]) + "\n")
        if mid != "ES2011a":  # one meeting without its array recording
            write_audio(os.path.join(mdir, "audio", f"{mid}.Array1-01.wav"), array)
        meetings_xml.append("  </meeting>")
    with open(os.path.join(ann, "corpusResources", "meetings.xml"), "w") as f:
        f.write("\n".join(meetings_xml + ["</nite:root>"]) + "\n")
    if zip_annotations:
        import shutil

        with zipfile.ZipFile(ann + ".zip", "w") as z:
            for d, _, files in os.walk(ann):
                for fn in files:
                    full = os.path.join(d, fn)
                    z.write(full, os.path.relpath(full, ann))  # the real zip has no top folder
        shutil.rmtree(ann)
    return root
