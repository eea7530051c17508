"""A meeting participant's media as the meeting transcriber reads them, streamed: close-up cameras as 25 fps mouth
frames aligned by time (:class:`CameraTrack`), recordings as 16 kHz mono wavs (:func:`wav_16k`).

A camera is read once, chunk by chunk. Its frames are placed on the meeting's 25 fps clock by their timestamps
(each output frame takes the source frame shown at that time), so a camera at another frame rate, one that starts
late or one that ends early lines up with the audio; slots without a frame (before the first, after the last) are
marked faceless and the activity detector falls back to audio there. A face video is cropped to the mouth on the
fly (:func:`avhubert_ami.prep.mouth_roi.crop_mouth_stream`, the preprocessing's landmarks and alignment) in windows
of a few seconds; frames without a detected face are marked faceless. When the frames read are not already a
96x96, 25 fps clip starting at 0 (a face video, or a lip clip at another rate or size), they are written as they
go to a lossless 25 fps clip in the run's temporary folder, which the decoding then reads by time range: nothing
holds more than one window of frames.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator, List, Optional, Tuple

import numpy as np

from avhubert_ami.data.constants import FPS, ROI_SIZE, SAMPLE_RATE
from avhubert_ami.data.video import FrameConverter
from avhubert_ami.errors import MediaError
from avhubert_ami.transcribe.media import decode_audio_to_wav, decoded_frames

logger = logging.getLogger(__name__)

CHUNK = 250  # 25 fps frames per chunk handed to the activity detector (10 s, 2.3 MB of 96x96 frames)
ROI_WINDOW_BYTES = 48 << 20  # RGB frames held for one mouth-crop window (~6 s of 352x288 AMI close-ups)
ALIGN_TOLERANCE_S = 0.5  # a camera this much shorter or later than the meeting gets a note


class Stopwatch:
    """Wall-clock and process CPU seconds summed over the stretches between :meth:`start` and :meth:`stop` (CPU time
    shows the work itself where other processes share the cores and stretch the wall clock)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._t0 = (0.0, 0.0)

    def start(self) -> "Stopwatch":
        self._t0 = (time.perf_counter(), time.process_time())
        return self

    def stop(self) -> "Stopwatch":
        self.wall += time.perf_counter() - self._t0[0]
        self.cpu += time.process_time() - self._t0[1]
        return self


def wav_16k(path: str, dst: str, notes: List[str]) -> Tuple[str, float]:
    """``(wav path, seconds)`` of ``path`` as a 16 kHz mono wav: ``path`` itself when it already is one, else a
    streamed conversion written to ``dst`` (with a note). :class:`MediaError` when it cannot be read."""
    import soundfile as sf

    try:
        info = sf.info(path)
        if (info.samplerate, info.channels) == (SAMPLE_RATE, 1) and info.format == "WAV":
            return path, info.frames / SAMPLE_RATE
    except (RuntimeError, OSError, sf.LibsndfileError):
        pass  # not something soundfile reads: ffmpeg may (or says why not)
    n = decode_audio_to_wav(path, dst, notes)
    return dst, n / SAMPLE_RATE


def timed_frames(path: str, fmt: str = "gray") -> Iterator[Tuple[float, np.ndarray]]:
    """``(time s, frame as fmt)`` of every frame of the first video stream, in one decode pass (PyAV; errors name
    the file)."""
    converter = FrameConverter()
    with contextlib.closing(decoded_frames(path)) as frames:
        for t, _, frame in frames:
            yield t, converter.array(frame, fmt)


def on_clock(frames: Iterator[Tuple[float, np.ndarray]], src_fps: float) -> Iterator[Optional[np.ndarray]]:
    """The frame shown at each 25 fps slot ``k / 25`` s (the nearest source frame by timestamp), from timed frames
    in display order; None for slots before the first frame. Ends when the last frame's display time (one source
    frame) does."""
    half = 0.5 / max(src_fps, 1e-3)
    k, prev, last = 0, None, None
    for t, img in frames:
        while k / FPS < t - half:  # slots before this frame's (rounded) time show the previous one
            yield prev
            k += 1
        prev, last = img, t
    if last is not None:  # the last frame stays on screen for one source frame; a slot counts from its middle
        while k / FPS < last + 2 * half - 0.5 / FPS:
            yield prev
            k += 1


class CameraTrack:
    """One participant's close-up on the meeting clock. :meth:`chunks` streams ``(frames uint8 (T, 96, 96), face
    bool (T,))`` once (the activity detector's input); afterwards :attr:`clip` is a 25 fps mouth clip for the
    decoding (the source itself when it is one already) and :attr:`face` the per-frame face flags.

    ``clip_path`` (``.mkv``) receives the clip when one must be written. Raises :class:`MediaError` from the
    constructor when the file cannot be opened; a file that breaks off mid-stream ends the track there, with a
    note."""

    def __init__(self, name: str, path: str, lip_video: bool, clip_path: str, backend: str = "auto") -> None:
        from avhubert_ami.transcribe.media import probe

        self.name, self.path, self.lip_video, self.backend = name, path, lip_video, backend
        info = probe(path)
        if not info.has_video:
            raise MediaError(f"{path}: no video stream")
        self.fps, self.duration = info.fps or FPS, info.duration
        self.notes: List[str] = []
        self.watch = Stopwatch()  # time spent reading (and cropping) frames
        self.face = np.zeros(0, bool)
        self._tmp_clip = clip_path  # where the 25 fps clip goes when the source is not one (a .mkv)
        self.clip: Optional[str] = None
        self.done = False
        if abs(self.fps - FPS) > 0.01:
            self.notes.append(f"camera at {self.fps:g} fps: frames taken by time on the 25 fps clock")

    # ---- the one pass ---------------------------------------------------------------------------------
    def _slots(self) -> Iterator[Tuple[Optional[np.ndarray], bool]]:
        """``(96x96 gray frame or None, face found)`` per 25 fps slot."""
        if self.lip_video:
            for img in on_clock(timed_frames(self.path, "gray"), self.fps):
                if img is not None and img.shape != (ROI_SIZE, ROI_SIZE):
                    from avhubert_ami.data.video import resize_frames

                    img = resize_frames(img[None])[0]
                yield img, img is not None
            return
        yield from self._mouths()

    def _mouths(self) -> Iterator[Tuple[Optional[np.ndarray], bool]]:
        """Mouth crops of a face video, window by window on the 25 fps clock."""
        from avhubert_ami.prep.mouth_roi import crop_mouth_stream

        window: List[Optional[np.ndarray]] = []
        first, frame_bytes = 0, 0
        for img in on_clock(timed_frames(self.path, "rgb24"), self.fps):
            window.append(img)
            frame_bytes = img.nbytes if img is not None else frame_bytes
            if len(window) * frame_bytes >= ROI_WINDOW_BYTES:
                yield from self._crop_window(window, first, crop_mouth_stream)
                first += len(window)
                window = []
        if window:
            yield from self._crop_window(window, first, crop_mouth_stream)

    def _crop_window(self, window, first: int, crop) -> Iterator[Tuple[Optional[np.ndarray], bool]]:
        present = [img for img in window if img is not None]
        crops, found = None, np.zeros(len(present), bool)
        if present:
            where = f"{self.path} [{first / FPS:.2f}-{(first + len(window)) / FPS:.2f}s]"
            try:
                result = crop(lambda: iter(present), len(present), FPS, where=where, backend=self.backend)
                crops, found = result.frames, np.asarray(result.detected, bool)
            except MediaError as err:
                if "no face found" not in str(err):
                    raise
        i = 0
        for img in window:
            if img is None or crops is None or i >= len(crops):
                yield None, False
            else:
                yield crops[i], bool(found[i])
            i += img is not None

    def _safe_slots(self) -> Iterator[Tuple[Optional[np.ndarray], bool]]:
        """:meth:`_slots`, ended with a note where the file breaks off."""
        n = 0
        try:
            for slot in self._slots():
                yield slot
                n += 1
        except MediaError as err:
            self.notes.append(f"camera breaks off at {n / FPS:.1f} s ({err}): audio only after it")

    def _grouped(self, size: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        blank = np.zeros((ROI_SIZE, ROI_SIZE), np.uint8)
        frames: List[np.ndarray] = []
        face: List[bool] = []
        for img, ok in self._safe_slots():
            frames.append(blank if img is None else img)
            face.append(ok and img is not None)
            if len(frames) == size:
                yield np.stack(frames), np.asarray(face, bool)
                frames, face = [], []
        if frames:
            yield np.stack(frames), np.asarray(face, bool)

    def chunks(self, size: int = CHUNK) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """The track's frames and face flags in chunks of ``size`` 25 fps frames (one pass; see the class)."""
        from avhubert_ami.synth.streams import video_writer

        if self.done:
            raise RuntimeError(f"{self.name}: the camera track was read already")
        flags: List[np.ndarray] = []
        copy = not self.lip_video or abs(self.fps - FPS) > 0.01
        with contextlib.ExitStack() as stack:  # an abandoned pass leaves no clip behind
            writer = None
            groups = self._grouped(size)
            while True:
                self.watch.start()
                batch = next(groups, None)
                if batch is not None and not flags and not batch[1][0]:
                    copy = True  # no frame at 0 s (a late start): the clip holds the blank lead-in, on the clock
                if batch is not None and copy:
                    if writer is None:
                        writer = stack.enter_context(
                            video_writer(self._tmp_clip, ROI_SIZE, ROI_SIZE, rgb=False, codec="ffv1")
                        )
                    writer.write(batch[0])
                self.watch.stop()
                if batch is None:
                    break
                flags.append(batch[1])
                yield batch
            self.watch.start()
        self.watch.stop()  # the clip's last packets and rename
        self.face = np.concatenate(flags) if flags else np.zeros(0, bool)
        self.clip = (self._tmp_clip if copy else self.path) if self.face.any() else None
        self.done = True

    def face_fraction(self, start: float, end: float) -> float:
        """Share of the 25 fps frames of ``[start, end)`` s with a face (0 past the end of the track)."""
        a, b = int(round(start * FPS)), max(int(round(end * FPS)), int(round(start * FPS)) + 1)
        return float(self.face[a:b].sum()) / (b - a)

    @property
    def n_frames(self) -> int:
        return len(self.face)
