"""Exceptions for bad input data; messages always name the file (and manifest row when known)."""


class MediaError(ValueError):
    """An audio or video file is missing, unreadable or not in the expected format."""
