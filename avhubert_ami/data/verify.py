"""Check a manifest folder's frame and sample counts against its media files.

    python -m avhubert_ami.data.verify --manifest_dir DIR [--splits train valid test]

Every video's frame count must equal the row's ``n_video_frames`` (batches are sized by it and the
audio is cut to it); an audio-only row's ``n_audio_samples`` must be within one video frame (640
samples) of its 16 kHz wav. Files are probed, not decoded (about a millisecond a row). Prints one
``tsv:line (id): problem`` line per bad row and exits 1 when there is any. The dataset applies the
same checks to each row when it first reads it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

from tqdm import tqdm

from avhubert_ami.data.constants import SAMPLE_RATE, SAMPLES_PER_FRAME, SPLITS
from avhubert_ami.data.errors import MediaError
from avhubert_ami.data.manifest import Manifest, ManifestError, ManifestRow, load_split

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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point: verify the splits of a manifest folder; exit status 1 on any problem."""
    p = argparse.ArgumentParser(
        prog="python -m avhubert_ami.data.verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--manifest_dir", required=True)
    p.add_argument("--splits", nargs="+", default=None, help="default: every {train,valid,test}.tsv present")
    args = p.parse_args(argv)
    splits = args.splits or [s for s in SPLITS if os.path.isfile(os.path.join(args.manifest_dir, f"{s}.tsv"))]
    if not splits:
        raise SystemExit(f"error: {args.manifest_dir}: no train/valid/test.tsv")
    bad = 0
    for split in splits:
        try:
            manifest, _ = load_split(args.manifest_dir, split)
        except (ManifestError, OSError) as e:
            raise SystemExit(f"error: {e}") from None
        problems = verify_manifest(manifest)
        for line in problems:
            print(line)
        print(f"{split}: {len(manifest) - len(problems)} of {len(manifest)} rows agree with their files", flush=True)
        bad += len(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
