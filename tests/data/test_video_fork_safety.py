"""Frame conversion must leave nothing a forked child can hang on.

PyAV >= 18.1.1 converts ``frame.to_ndarray(format=...)`` through a per-thread swscale context with slice
threads; a process forked while such a thread is alive waits forever in the child when that context is torn
down (fresh-clone CI hung in a DataLoader worker this way). Every conversion of ours goes through
``FrameConverter`` (one context per stream, no slice threads): these tests fork after our readers ran on a
thread that is still alive, and the child must finish; ``make lint`` refuses any other conversion
(``scripts/check_frame_conversions.py``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from avhubert_ami.data.video import FrameConverter, write_video
from scripts import check_frame_conversions
from tests.support.video import pyav_converted_frames

_SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, sys, threading
    from avhubert_ami.data.video import read_video
    from avhubert_ami.meeting.tracks import timed_frames
    from avhubert_ami.transcribe.media import iter_frames

    rgb, gray = sys.argv[1], sys.argv[2]

    def convert():
        list(iter_frames(rgb, 0.0, 10.0, fmt="rgb24"))
        list(iter_frames(rgb, 0.0, 10.0, fmt="gray"))
        list(timed_frames(rgb, fmt="gray"))
        read_video(rgb)
        read_video(gray)

    ready = threading.Event()

    def stay_alive():  # like a prefetch thread: converted frames, still running when the loader forks
        convert()
        ready.set()
        threading.Event().wait(120)

    threading.Thread(target=stay_alive, daemon=True).start()
    ready.wait()
    convert()  # the main thread too: a child then converts with whatever it inherited
    child = mp.get_context("fork").Process(target=convert)
    child.start()
    child.join(30)
    if child.is_alive():
        child.kill()
        sys.exit("forked child hung")
    sys.exit(child.exitcode)
    """
)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("fork")
    rng = np.random.default_rng(0)
    rgb = str(d / "rgb.mp4")  # yuv420p on disk: rgb24 via swscale
    write_video(rgb, rng.integers(0, 256, (8, 120, 160, 3), dtype=np.uint8), codec="libx264")
    gray = str(d / "gray.mkv")
    write_video(gray, rng.integers(0, 256, (8, 96, 96), dtype=np.uint8))
    return rgb, gray


def test_forked_child_converts_frames_after_a_live_thread_did(videos):
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, *videos], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_converter_matches_pyav_conversion(videos):
    import av

    converter = FrameConverter()
    with av.open(videos[0]) as container:
        frames = list(container.decode(video=0))
    for fmt in ("rgb24", "gray"):
        ours = np.stack([converter.array(frame, fmt) for frame in frames])
        np.testing.assert_array_equal(ours, pyav_converted_frames(videos[0], fmt))


def test_the_lint_sees_implicit_conversions(tmp_path):
    source = "a = frame.to_ndarray(format='gray')\nb = frame.reformat(format='rgb24')\nc = frame.to_ndarray()\n"
    assert check_frame_conversions.implicit_conversions(source) == [1, 2]
    assert check_frame_conversions.implicit_conversions("x = 1\nf.to_rgb()\nf.to_image()\n") == [2, 3]
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(source)
    (tmp_path / "pkg" / "ok.py").write_text("x = converter.array(frame, 'gray')\n")
    assert check_frame_conversions.offenders(tmp_path, ["pkg"]) == ["pkg/m.py:1", "pkg/m.py:2"]
