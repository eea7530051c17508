"""Recordings for the avhubert-transcribe tests and benchmark: utterances of the tiny test data (or tones) separated by
silences of known lengths, as a lip clip + wav or as a face video with its audio track in one file."""

from __future__ import annotations

from fractions import Fraction
from typing import List, Optional, Sequence, Tuple

import numpy as np

from avhubert_ami.testing.media import make_frames, make_wave

SR = 16000


def speech_with_pauses(
    pauses: Sequence[float], lengths: Sequence[int], seed: int = 0, tail: float = 1.0
) -> Tuple[np.ndarray, np.ndarray, List[Tuple[float, float]]]:
    """``(wave, lip frames (T, 96, 96), true utterance bounds)``: pause i (s) then an utterance of lengths[i]
    25 fps frames (a harmonic tone with noise, and moving-blob lips), then ``tail`` s of silence."""
    waves, frames, bounds, t = [], [], [], 0.0
    for i, (p, n) in enumerate(zip(pauses, lengths)):
        k = int(round(p * 25))
        waves.append(np.zeros(k * 640, np.float32))
        frames.append(np.full((k, 96, 96), 40, np.uint8))
        t += k / 25
        waves.append(make_wave(n * 640, seed + i))
        frames.append(make_frames(n, seed + i))
        bounds.append((t, t + n / 25))
        t += n / 25
    k = int(round(tail * 25))
    waves.append(np.zeros(k * 640, np.float32))
    frames.append(np.full((k, 96, 96), 40, np.uint8))
    return np.concatenate(waves), np.concatenate(frames), bounds


def write_av(
    path: str, rgb: Optional[np.ndarray], fps: float, wave: Optional[np.ndarray], sr: int = SR, channels: int = 1
) -> str:
    """A .mkv/.mp4 with an H.264 video stream (``rgb`` (T, H, W, 3)) and/or an AAC/PCM audio track (``wave``)."""
    import av

    with av.open(path, "w") as c:
        v = a = None
        if rgb is not None:
            rate = Fraction(fps).limit_denominator(1001)
            v = c.add_stream("libx264", rate=rate, options={"crf": "18"})
            v.height, v.width, v.pix_fmt = rgb.shape[1], rgb.shape[2], "yuv420p"
            v.codec_context.time_base = 1 / rate
        if wave is not None:
            a = c.add_stream(
                "aac" if path.endswith(".mp4") else "pcm_s16le", rate=sr, layout="mono" if channels == 1 else "stereo"
            )
        if v is not None:
            for i, img in enumerate(rgb):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                frame.pts = i
                c.mux(v.encode(frame))
            c.mux(v.encode(None))
        if a is not None:
            pcm = np.clip(np.asarray(wave, np.float32) * 32767, -32768, 32767).astype(np.int16)
            pcm = np.repeat(pcm[:, None], channels, axis=1)
            for i in range(0, len(pcm), 1024):
                block = np.ascontiguousarray(pcm[i : i + 1024].reshape(1, -1))
                frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono" if channels == 1 else "stereo")
                frame.sample_rate, frame.pts = sr, i
                c.mux(a.encode(frame))
            c.mux(a.encode(None))
    return path


def write_long_recording(
    clips, pauses: Sequence[float], video_path: str, wav_path: str, tail: float = 1.0
) -> List[Tuple[float, float]]:
    """Stream ``clips`` (an iterable of ``(gray lips (T, 96, 96) uint8, wave float32 of T * 640 samples)``), each
    after the matching pause (s, rounded to whole frames), into a lossless lip clip and a 16 kHz wav, one clip in
    memory at a time; returns the true ``(start, end)`` of each clip. Pauses show a still gray mouth."""
    import av
    import soundfile as sf

    bounds, t = [], 0
    blank = np.full((96, 96), 40, np.uint8)
    with av.open(video_path, "w", format="matroska") as c, sf.SoundFile(
        wav_path, "w", samplerate=SR, channels=1, subtype="PCM_16", format="WAV"
    ) as wav:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 96, 96, "gray"

        def put(frames: np.ndarray, wave: np.ndarray) -> None:
            nonlocal t
            for img in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="gray")
                frame.pts = t
                c.mux(v.encode(frame))
                t += 1
            wav.write(wave)

        for (frames, wave), pause in zip(clips, pauses):
            k = int(round(pause * 25))
            put(np.repeat(blank[None], k, axis=0), np.zeros(k * 640, np.float32))
            start = t / 25
            n = len(frames)
            put(frames, np.pad(wave, (0, max(0, n * 640 - len(wave))))[: n * 640])
            bounds.append((start, t / 25))
        k = int(round(tail * 25))
        put(np.repeat(blank[None], k, axis=0), np.zeros(k * 640, np.float32))
        c.mux(v.encode(None))
    return bounds


def manifest_clips(data_dir: str, split: str, ids: Optional[Sequence[str]] = None):
    """``(ids, references, clip iterator)`` of the audio-visual rows of ``data_dir/split`` (read lazily)."""
    from avhubert_ami.data.audio import read_audio
    from avhubert_ami.data.manifest import load_split
    from avhubert_ami.data.video import read_video

    manifest, texts = load_split(data_dir, split)
    rows = [(r, t) for r, t in zip(manifest.rows, texts) if r.audio and r.video and (ids is None or r.id in ids)]

    def clips():
        for r, _ in rows:
            yield read_video(r.video), read_audio(r.audio)

    return [r.id for r, _ in rows], [t for _, t in rows], clips()


def write_face_video(path: str, clip: np.ndarray, seconds: float, fps: float = 25.0) -> str:
    """An H.264 face video of ``seconds`` cycling the RGB ``clip`` (T, H, W, 3), encoded frame by frame (a long
    close-up never sits in memory)."""
    import av

    rate = Fraction(fps).limit_denominator(1001)
    with av.open(path, "w") as c:
        v = c.add_stream("libx264", rate=rate, options={"crf": "23", "preset": "veryfast"})
        v.height, v.width, v.pix_fmt = clip.shape[1], clip.shape[2], "yuv420p"
        v.codec_context.time_base = 1 / rate
        period = max(1, 2 * len(clip) - 2)  # ping-pong through the clip: no jump at the loop point
        for i in range(int(round(seconds * fps))):
            k = i % period
            img = clip[k if k < len(clip) else period - k]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
    return path
