"""AMI-like close-up clips for the preprocessing benchmarks: 352x288 MPEG-4 AVI at 25 fps of the
astronaut photo (``avhubert_ami.testing.media``) moving and zooming, with a few frames without a face.

The photo's face is ~125 px wide at zoom 1, so ``face_px / 125`` is the zoom; the face also grows by
+-10% over the clip and sways +-15 px, like a speaker's head in an AMI close-up.
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction
from typing import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avhubert_ami.testing.media import iter_astronaut_frames  # noqa: E402

FACE_PX_AT_ZOOM_1 = 125.0


def blank_frames(n: int, every: int = 750, run: int = 3) -> Sequence[int]:
    """Frames without a face: ``run`` frames every ``every`` (someone walks past the camera)."""
    return [i for start in range(every // 2, n, every) for i in range(start, min(n, start + run))]


def write_closeup(path: str, seconds: float, face_px: float = 80.0, bitrate: int = 1_000_000) -> str:
    """Write an AMI-like close-up (352x288 MPEG-4 part 2 in AVI, 25 fps, yuv420p) to ``path``."""
    import av

    n = int(round(seconds * 25))
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with av.open(path, mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 352, 288, "yuv420p"
        stream.bit_rate = bitrate
        for i, (rgb, _) in enumerate(iter_astronaut_frames(n, blank=blank_frames(n), zoom=face_px / FACE_PX_AT_ZOOM_1)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
