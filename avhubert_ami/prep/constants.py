"""The formats preparation writes. The AV constants and split names come from their one home,
:mod:`avhubert_ami.data.constants` (the dataset reads what preparation writes); here only the
``--video_format`` containers are added."""

from avhubert_ami.data.constants import FPS, ROI_SIZE, SAMPLE_RATE, SAMPLES_PER_FRAME, SPLITS

#: ``--video_format`` value -> (file extension, codec) of the written mouth-ROI videos.
VIDEO_FORMATS = {"mkv": (".mkv", "ffv1"), "mp4": (".mp4", "libx264")}

__all__ = ["SAMPLE_RATE", "FPS", "ROI_SIZE", "SAMPLES_PER_FRAME", "SPLITS", "VIDEO_FORMATS"]
