"""On-disk formats, media IO, features and the audio-visual dataset."""
