"""Meetings -- who said what, when: per-participant speaker activity from lips and audio (:mod:`.activity`), the
meeting transcript formats SegLST/RTTM/STM/SRT/VTT/TXT/JSON (:mod:`.formats`) and meeting scoring -- cpWER and
tcpWER through meeteval, DER through pyannote.metrics (:mod:`.scoring`)."""
