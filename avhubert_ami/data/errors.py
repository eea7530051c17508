"""Exceptions for bad input data; messages always name the file (and manifest row when known)."""


class MediaError(ValueError):
    """An audio or video file is missing, unreadable or not in the expected format."""


class PreparationError(ValueError):
    """Preparing a corpus cannot go on: bad options or input (a missing column, a folder made with other
    options, an unfinished shard, an output folder another run holds). Library code raises it; the
    preprocessing CLIs (``preprocess``) and the guide CLI turn it into one ``error: ...`` line."""
