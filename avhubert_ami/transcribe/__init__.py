"""Long-form audio-visual transcription of recordings with a fine-tuned checkpoint (``avhubert-transcribe``)."""

from avhubert_ami.transcribe.segments import Segment
from avhubert_ami.transcribe.transcriber import TranscribeError, Transcriber, TranscribeSettings
from avhubert_ami.transcribe.vad import VadConfig

__all__ = ["Segment", "Transcriber", "TranscribeError", "TranscribeSettings", "VadConfig"]
