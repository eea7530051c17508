"""The options every manifest-writing recipe shares (``prepare_hf_dataset``, ``avhubert_ami.prep.ami.prepare_ami``):
media format, transcript normalisation, workers, resumption and sharding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

from avhubert_ami.errors import PreparationError
from avhubert_ami.prep.constants import VIDEO_FORMATS
from avhubert_ami.prep.runtime.engine import LOCAL, Engine
from avhubert_ami.prep.runtime.shards import Shard
from avhubert_ami.scoring.text import TextNormalization


@dataclass(frozen=True)
class WriterOptions:
    """How a recipe writes utterances.

    ``video_format``: ``mkv`` (lossless ffv1) or ``mp4`` (libx264); ``av_tolerance_s``: audio is trimmed/padded to
    the video length when they differ by at most this, else the row is dropped; ``precompute_features``: also
    write the 104-dim stacked log-fbank beside each wav; ``lowercase`` / ``strip_punctuation`` /
    ``keep_disfluencies``: :meth:`text_normalization`; ``num_workers``: worker processes
    (1 = this process); ``engine``: where the per-utterance jobs run (this machine's processes or Dask,
    :mod:`avhubert_ami.prep.runtime.engine`); ``overwrite``: forget earlier progress in the output folder;
    ``wait``: queue behind another run writing the output folder instead of raising; ``shard``: do one shard of the
    work (None: all of it, or assemble finished shards).
    """

    video_format: str = "mkv"
    av_tolerance_s: float = 0.12
    precompute_features: bool = False
    lowercase: bool = True
    strip_punctuation: bool = True
    keep_disfluencies: bool = True
    num_workers: int = 1
    engine: Engine = LOCAL
    overwrite: bool = False
    wait: bool = False
    shard: Optional[Shard] = None

    def __post_init__(self) -> None:
        if self.video_format not in VIDEO_FORMATS:
            raise PreparationError(f"video_format {self.video_format!r}: expected one of {', '.join(VIDEO_FORMATS)}")

    def text_options(self) -> Dict[str, bool]:
        """The transcript flags, as the resume fingerprint records them."""
        return dict(
            lowercase=self.lowercase, strip_punctuation=self.strip_punctuation, keep_disfluencies=self.keep_disfluencies
        )

    def text_normalization(self) -> TextNormalization:
        """The options of :func:`avhubert_ami.scoring.text.normalize_text` these flags ask for."""
        return TextNormalization(
            case="lower" if self.lowercase else "keep",
            strip_punctuation=self.strip_punctuation,
            keep_disfluencies=self.keep_disfluencies,
        )
