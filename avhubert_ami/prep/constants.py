"""The formats preparation writes: 16 kHz mono audio, 25 fps 96x96 gray mouth-ROI video, the split names,
and the ``--video_format`` containers."""

SAMPLE_RATE = 16000
FPS = 25.0
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)  # 640
ROI_SIZE = 96
SPLITS = ("train", "valid", "test")

#: ``--video_format`` value -> (file extension, codec) of the written mouth-ROI videos.
VIDEO_FORMATS = {"mkv": (".mkv", "ffv1"), "mp4": (".mp4", "libx264")}
