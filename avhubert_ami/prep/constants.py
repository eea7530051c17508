"""The formats preparation writes. The AV constants come from their homes in ``avhubert_ami.data`` (the dataset
reads what preparation writes); here only the split names and the ``--video_format`` containers are added."""

from avhubert_ami.data.audio import SAMPLE_RATE
from avhubert_ami.data.video import FPS, ROI_SIZE

SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)  # 640
SPLITS = ("train", "valid", "test")

#: ``--video_format`` value -> (file extension, codec) of the written mouth-ROI videos.
VIDEO_FORMATS = {"mkv": (".mkv", "ffv1"), "mp4": (".mp4", "libx264")}

__all__ = ["SAMPLE_RATE", "FPS", "ROI_SIZE", "SAMPLES_PER_FRAME", "SPLITS", "VIDEO_FORMATS"]
