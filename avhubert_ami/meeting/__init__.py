"""Meetings -- who said what, when: the meeting transcriber (:mod:`.transcriber`, ``MeetingTranscriber`` behind
``avhubert-transcribe-meeting``) over where a meeting's media come from (:mod:`.sources`: an AMI folder through
``meetings.xml``, or participants one by one) and how they are streamed (:mod:`.tracks`: cameras on the 25 fps
clock, mouth crops on the fly), per-participant speaker activity from lips and audio (:mod:`.activity`), the
meeting transcript formats SegLST/RTTM/STM/SRT/VTT/TXT/JSON (:mod:`.formats`) and meeting scoring -- cpWER and
tcpWER through meeteval, DER through pyannote.metrics (:mod:`.scoring`)."""
