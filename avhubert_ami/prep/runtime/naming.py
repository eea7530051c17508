"""Where an utterance's files go: file-name-safe ids and the per-split media paths under an output root."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Tuple


def safe_name(uid: str) -> str:
    """A file-name-safe form of an utterance id (path separators and odd characters -> '_')."""
    name = re.sub(r"[^\w.\-]+", "_", uid).strip("._")
    return name or hashlib.sha1(uid.encode()).hexdigest()[:12]


def media_paths(split: str, uid: str, video_ext: str) -> Tuple[str, str]:
    """Relative (video, audio) paths of an utterance under the output root."""
    name = safe_name(uid)
    return os.path.join(split, "video", name + video_ext), os.path.join(split, "audio", name + ".wav")
