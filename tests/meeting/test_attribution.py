"""Who said what (issue 22 §2-§3) through the meeting transcriber on a generated AMI-layout meeting: crosstalk in a
headset gives its wearer no words, two overlapping talkers are each decoded from their own lips, and the oracle and
audio-only rows decode the reference turns with and without lips."""

import numpy as np
import pytest

from avhubert_ami.errors import UsageError
from avhubert_ami.meeting.activity import ActivityConfig
from avhubert_ami.meeting.formats import read_seglst
from avhubert_ami.meeting.sources import ami_meeting

MEETING = "ES2004a"
COLLAR = 6  # frames (0.24 s) around a participant's own speech not scored (padding, onsets)


def _near(truth):
    return np.convolve(truth.astype(float), np.ones(2 * COLLAR + 1), mode="same") > 0


@pytest.fixture(scope="module")
def headset_run(ami_dir, recognizer):
    """The meeting transcribed in the headset condition, AV activity (shared by the tests of this module)."""
    from avhubert_ami.meeting.transcriber import MeetingTranscriber

    return MeetingTranscriber(recognizer).transcribe(ami_meeting(str(ami_dir), MEETING, lip_video=True))


def test_crosstalk_in_a_headset_gives_its_wearer_no_words(headset_run, drawn, covered):
    truth = drawn["truth"]
    n = len(next(iter(truth.values())))
    names = list(truth)
    assert sorted(p.name for p in headset_run.participants) == sorted(names)
    for name in names:
        others = np.any([truth[o] for o in names if o != name], axis=0) & ~_near(truth[name])
        # the others' voices reach this headset 8-20 dB down (the generator's crosstalk): plenty to hear
        assert others.sum() > 50, name
        mine = [s for s in headset_run.segments if s.speaker == name]
        assert covered(mine, n)[others].mean() <= 0.02, (name, [(s.start_time, s.end_time) for s in mine])
        # ... and the wearer's own speech is found
        assert covered(mine, n)[truth[name]].mean() >= 0.9, name
    assert all(s.extras["audio_source"] == "headset" for s in headset_run.segments)


def _overlaps(truth):
    """[(a, b, frames)]: pairs of participants who speak at once, and where."""
    names = list(truth)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = truth[a] & truth[b]
            if both.sum() >= 10:
                out.append((a, b, both))
    return out


def _check_own_lips(result, media, truth, covered, audio_source):
    n = len(next(iter(truth.values())))
    pairs = _overlaps(truth)
    assert pairs, "the generated meeting has overlapping speech"
    for a, b, both in pairs:
        for name in (a, b):
            mine = [s for s in result.segments if s.speaker == name]
            assert covered(mine, n)[both].mean() >= 0.9, (name, a, b)  # both talkers active in the overlap
            during = [s for s in mine if covered([s], n)[both].any()]
            for s in during:
                assert s.extras["modalities"] == ["audio", "video"], s
                assert s.extras["video_file"] == media[name][0], s  # their own close-up, not the other's
                assert s.extras["audio_source"] == audio_source
                assert 0.0 < s.extras["activity_score"] <= 1.0


def test_two_overlapping_talkers_are_each_decoded_from_their_own_lips(headset_run, media, drawn, covered):
    _check_own_lips(headset_run, media, drawn["truth"], covered, "headset")
    for s in headset_run.segments:
        assert s.extras["audio_file"] == media[s.speaker][1]  # the wearer's own headset


def test_in_the_room_the_lips_tell_overlapping_talkers_apart(ami_dir, transcribe, media, drawn, covered):
    result = transcribe(ami_meeting(str(ami_dir), MEETING, lip_video=True), audio_source="room")
    room = str(ami_dir / "amicorpus" / MEETING / "audio" / f"{MEETING}.Array1-01.wav")
    assert {s.extras["audio_file"] for s in result.segments} == {room}
    assert all(p.cues == ["lips", "room"] and p.headset is None for p in result.participants)
    _check_own_lips(result, media, drawn["truth"], covered, "room")


def test_oracle_turns_with_and_without_lips(ami_dir, transcribe, media):
    reference = read_seglst(str(ami_dir / f"{MEETING}.seglst.json"))
    meeting = ami_meeting(str(ami_dir), MEETING, lip_video=True)
    av = transcribe(meeting, segments=reference)
    audio = transcribe(ami_meeting(str(ami_dir), MEETING, lip_video=True), segments=reference, modalities=("audio",))
    for result, mods in ((av, ["audio", "video"]), (audio, ["audio"])):
        assert result.settings["segments_from"] == "reference" and result.stats.activity == 0.0
        got = sorted((s.speaker, s.start_time, s.end_time) for s in result.segments)
        assert got == sorted((r.speaker, r.start_time, r.end_time) for r in reference)  # on the 40 ms grid already
        assert all(s.extras["modalities"] == mods for s in result.segments)
        assert all(s.extras["audio_file"] == media[s.speaker][1] for s in result.segments)
    assert audio.settings["modalities"] == ["audio"] and all(s.extras["video_file"] is None for s in audio.segments)
    # audio-only activity with audio-only recognition never opens a camera
    blind = transcribe(
        ami_meeting(str(ami_dir), MEETING, lip_video=True), activity=ActivityConfig(mode="audio"), modalities=("audio",)
    )
    assert blind.stats.roi == 0.0 and all(p.video is None and p.cues == ["headset"] for p in blind.participants)


def test_reference_turns_of_strangers_or_of_another_meeting_are_refused(ami_dir, transcribe):
    reference = read_seglst(str(ami_dir / f"{MEETING}.seglst.json"))
    meeting = ami_meeting(str(ami_dir), MEETING, lip_video=True)
    reference[0].speaker = "NOBODY"
    with pytest.raises(UsageError, match="NOBODY are not participants of ES2004a"):
        transcribe(meeting, segments=reference)
    reference[0].speaker, reference[1].session_id = reference[1].speaker, "ES2004b"
    with pytest.raises(UsageError, match="ES2004b, not of ES2004a"):
        transcribe(meeting, segments=reference)


def test_long_reference_turns_are_cut_to_what_the_model_takes(recognizer):
    from avhubert_ami.meeting.formats import MeetingSegment
    from avhubert_ami.meeting.transcriber import MeetingTranscriber

    mt = MeetingTranscriber(recognizer)
    limit = mt.max_segment_s
    spans = mt._oracle_spans([MeetingSegment("m", "A", 1.0, 1.0 + 2.5 * limit), MeetingSegment("m", "A", 0.2, 0.52)])
    assert [s.start for s in spans] == sorted(s.start for s in spans) and spans[0] == (0.2, 0.52, 1.0)
    assert len(spans) == 4 and all(s.end - s.start <= limit + 1e-6 for s in spans)
    assert spans[1].start == 1.0 and spans[-1].end == pytest.approx(1.0 + 2.5 * limit)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(spans[1:], spans[2:]))
