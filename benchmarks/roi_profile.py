"""CPU seconds per stage of one ``python -m preprocess.mouth_roi`` run (used by ``benchmarks/roi_speed.py --profile``).

    python benchmarks/roi_profile.py CLIP OUT.mkv BACKEND

Runs the command line's ``main`` in this process with the pipeline's functions wrapped by a timer of the
process's CPU time (``time.process_time``: all threads, so MediaPipe's graph threads count), and prints one
line ``PROFILE {json}``: seconds per stage, start-up (interpreter + imports before ``main``) and the
process total. Only the outermost timed call counts (dlib's gray conversion inside ``detect`` is
landmarks). CPU time, unlike a wall-clock profile, does not grow when other processes share the cores.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections import Counter
from typing import Any, Callable, Dict

# stage -> [(module, attribute)] whose calls it is; "of which ..." stages are nested in the one above
STAGES = {
    "detector start": [("avhubert_ami.prep.landmarks", "LandmarkDetector.__init__")],
    "decode + RGB": [("avhubert_ami.prep.media", "iter_rgb")],
    "landmarks": [("avhubert_ami.prep.landmarks", "LandmarkDetector.detect")],
    "  of which window search": [("avhubert_ami.prep.landmarks", "LandmarkDetector._mesh_in_window")],
    "gray": [("cv2", "cvtColor")],
    "fill + smooth": [
        ("avhubert_ami.prep.landmark_track", "LandmarkTrack.add"),
        ("avhubert_ami.prep.landmark_track", "LandmarkTrack.smoothed"),
        ("avhubert_ami.prep.landmark_track", "LandmarkTrack.finish"),
        ("avhubert_ami.prep.mouth_roi", "fill_missing"),  # (older trees: the finished sequence at once)
        ("avhubert_ami.prep.mouth_roi", "smooth"),
    ],
    "align + warp": [("avhubert_ami.prep.mouth_roi", "similarity"), ("cv2", "warpAffine")],
    "encode + write": [("avhubert_ami.data.video", "write_video")],
    "probe": [("avhubert_ami.data.video", "probe_video")],
}

spent: Counter = Counter()
_depth = [0]


def _timed(fn: Callable, stage: str, nested: bool) -> Callable:
    """``fn`` adding its CPU time to ``stage`` (generators: the time spent producing each item)."""

    def add(t0: float) -> None:
        if nested or _depth[0] == 0:
            spent[stage] += time.process_time() - t0

    if stage == "decode + RGB":  # a generator: time each next()

        @functools.wraps(fn)
        def gen(*args: Any, **kwargs: Any):
            it = fn(*args, **kwargs)
            while True:
                t0 = time.process_time()
                try:
                    item = next(it)
                except StopIteration:
                    add(t0)
                    return
                add(t0)
                yield item

        return gen

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any):
        t0 = time.process_time()
        if not nested:
            _depth[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            if not nested:
                _depth[0] -= 1
            add(t0)

    return call


def install() -> None:
    """Wrap every function of :data:`STAGES` the profiled tree has, in place (modules are imported here)."""
    import importlib

    for stage, targets in STAGES.items():
        for module, attr in targets:
            try:
                owner: Any = importlib.import_module(module)
            except ImportError:
                continue
            *path, name = attr.split(".")
            for part in path:
                owner = getattr(owner, part, None)
            if owner is not None and hasattr(owner, name):
                setattr(owner, name, _timed(getattr(owner, name), stage, nested=stage.startswith(" ")))


def main() -> None:
    clip, out, backend = sys.argv[1:4]
    # the command line's fairseq-free start-up: older trees read ``python -m``'s argv[0] when ``preprocess`` is
    # imported (before avhubert_ami), newer ones this environment variable
    sys.argv[:1] = ["-m"]
    os.environ["AVHUBERT_AMI_WITHOUT_FAIRSEQ"] = "1"
    try:
        import preprocess  # noqa: F401
    except ImportError:
        pass
    try:
        from avhubert_ami.cli import mouth_roi as cli  # (the layout after issue 15)
    except ImportError:
        from preprocess import mouth_roi as cli  # type: ignore[no-redef]

    install()
    startup = time.process_time()
    rc = cli.main(["--input", clip, "--output", out, "--backend", backend, "--overwrite"])
    total = time.process_time()
    stages: Dict[str, float] = {"start-up (imports)": startup, **{s: spent[s] for s in STAGES}}
    stages["rest"] = total - sum(v for k, v in stages.items() if not k.startswith(" "))
    stages["total"] = total
    print("PROFILE " + json.dumps(stages), flush=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
