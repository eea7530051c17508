"""PyAV's own frame conversion, as a reference the tests compare ours against."""

from __future__ import annotations

import threading

import numpy as np


def pyav_converted_frames(path: str, fmt: str) -> np.ndarray:
    """Every frame of ``path`` through ``frame.to_ndarray(format=fmt)``, stacked.

    Runs on a thread of its own that ends before this returns: PyAV keeps the swscale context of
    ``to_ndarray(format=...)`` per thread, with slice threads, and one left on the test process's main thread
    would hang a later test's forked loader worker (see scripts/check_frame_conversions.py).
    """
    import av

    out = []

    def convert() -> None:
        with av.open(path) as container:
            out.append(np.stack([f.to_ndarray(format=fmt) for f in container.decode(video=0)]))

    worker = threading.Thread(target=convert)
    worker.start()
    worker.join()
    if not out:
        raise RuntimeError(f"{path}: PyAV's conversion failed (see the thread's traceback above)")
    return out[0]
