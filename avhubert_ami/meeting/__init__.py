"""Meetings: who said what, when. Transcript formats (SegLST, RTTM, STM, subtitles, text) in :mod:`.formats`;
cpWER, tcpWER and DER in :mod:`.scoring`."""
