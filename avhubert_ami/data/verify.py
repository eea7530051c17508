"""Check a manifest's frame and sample counts against its media files (``avhubert-verify-manifest``).

Every video's frame count must equal the row's ``n_video_frames`` (batches are sized by it and the
audio is cut to it); an audio-only row's ``n_audio_samples`` must be within one video frame (640
samples) of its 16 kHz wav. Files are probed, not decoded (about a millisecond a row). One
``tsv:line (id): problem`` line per bad row. The dataset applies the
same checks to each row when it first reads it.
"""

from __future__ import annotations

import os
from typing import List, Optional

from tqdm import tqdm

from avhubert_ami.data.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from avhubert_ami.data.manifest import Manifest, ManifestRow
from avhubert_ami.errors import MediaError

_SOUNDFILE_EXTS = (".wav", ".flac")


def _row_problem(row: ManifestRow) -> Optional[str]:
    """What is wrong with one row's counts, or ``None``."""
    import soundfile as sf

    from avhubert_ami.data.video import probe_video

    try:
        if row.video is not None:
            n = probe_video(row.video).n_frames
            if n != row.n_video_frames:
                return f"n_video_frames={row.n_video_frames} but {row.video} has {n} frames"
        if row.audio is not None:
            if not os.path.isfile(row.audio):
                return f"{row.audio}: audio file not found"
            if row.video is None and row.audio.lower().endswith(_SOUNDFILE_EXTS):
                info = sf.info(row.audio)
                n = int(round(info.frames * SAMPLE_RATE / info.samplerate))
                if abs(n - row.n_audio_samples) >= SAMPLES_PER_FRAME:
                    return f"n_audio_samples={row.n_audio_samples} but {row.audio} has {n} samples at 16 kHz"
    except MediaError as e:
        return str(e)
    except RuntimeError as e:  # soundfile's LibsndfileError
        return f"{row.audio}: cannot read audio ({e})"
    return None


def verify_manifest(manifest: Manifest, progress: bool = True) -> List[str]:
    """``tsv:line (id): problem`` for every row whose counts disagree with its files."""
    problems = []
    for i, row in enumerate(tqdm(manifest.rows, desc=f"verifying {manifest.path}", disable=not progress)):
        problem = _row_problem(row)
        if problem is not None:
            problems.append(f"{manifest.where(i)}: {problem}")
    return problems
