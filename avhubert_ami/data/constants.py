"""The audio-visual input contract of AV-HuBERT, split names and modality names: defined here, imported everywhere.

No imports: the preprocessing CLIs, the dataset, the task config defaults and transcription all read these.
"""

#: Audio sample rate (Hz) of every manifest wav and of the model's filterbank features.
SAMPLE_RATE = 16000
#: Video frame rate (frames per second) of the mouth-ROI clips; the model's 25 Hz step.
FPS = 25.0
#: Audio samples per video frame.
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)
#: Side (pixels) of the square grayscale mouth ROI stored on disk.
ROI_SIZE = 96
#: Side (pixels) of the crop fed to the model (random on train, centre otherwise).
CROP_SIZE = 88
#: Pixel mean and standard deviation (after /255) of upstream's normalisation.
IMAGE_MEAN = 0.421
IMAGE_STD = 0.165

#: Manifest split names, in preparation order.
SPLITS = ("train", "valid", "test")

#: Input modalities, in the order of the model's presence columns (audio 0, video 1).
MODALITIES = ("audio", "video")
