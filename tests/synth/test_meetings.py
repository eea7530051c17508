"""Synthetic meetings in AMI's layout (issue 22 §5): files and annotations as AMI ships them, prepared by the raw-AMI
recipe, overlap and crosstalk as configured, lips that move with speech (and sometimes without), determinism."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from avhubert_ami.cli import synth_ami
from avhubert_ami.data import manifest as mf
from avhubert_ami.data.video import probe_video, read_video
from avhubert_ami.synth.ami_files import ANNOTATIONS
from avhubert_ami.synth.closeup import MouthTrack, chunk_bounds
from avhubert_ami.synth.conversation import BACKCHANNELS, MOTIONS, _too_close, overlap_share, speech_activity
from avhubert_ami.synth.meeting import (
    DEV_MEETINGS,
    TEST_MEETINGS,
    MeetingConfig,
    default_avoid,
    generate_meetings,
    plans,
)
from tests.support.files import folder_digest

pytest.importorskip("pyroomacoustics")

SHORT = MeetingConfig(seed=5, seconds=32.0, workers=2)


@pytest.fixture(scope="module")
def meeting(tmp_path_factory):
    """A 32 s lip-mode meeting: ``(root, plan)``."""
    root = str(tmp_path_factory.mktemp("meeting"))
    assert generate_meetings(root, SHORT) == ["ES2004a"]
    return root, plans(SHORT)[0]


def _expected_segments(plan):
    """{recipe utterance id: words} of the plan: ``MEETING_NAME_START_END`` in centiseconds."""
    return {
        f"{plan.meeting_id}_{plan.participants[u.participant].name}_{u.speech_start * 4:07d}_{u.speech_end * 4:07d}": (
            " ".join(u.words)
        )
        for u in plan.utterances
    }


def _rttm_share(path):
    """Share of speech time with two or more talkers, from an RTTM file (times on the 40 ms grid)."""
    turns = [line.split() for line in open(path)]
    n = max(int(round((float(t[3]) + float(t[4])) * 25)) for t in turns)
    names = sorted({t[7] for t in turns})
    act = np.zeros((len(names), n), dtype=int)
    for t in turns:
        a = int(round(float(t[3]) * 25))
        act[names.index(t[7]), a : a + int(round(float(t[4]) * 25))] += 1
    assert act.max() == 1  # nobody overlaps themselves
    count = act.sum(axis=0)
    return (count >= 2).sum() / (count >= 1).sum()


def test_ami_layout_and_the_recipes_annotation_parser(meeting):
    from avhubert_ami.prep.ami_annotations import Annotations, read_segments, read_speakers
    from avhubert_ami.prep.runtime.options import WriterOptions
    from avhubert_ami.scoring.text import normalize_text

    pytest.importorskip("lhotse")
    root, plan = meeting
    m, n = plan.meeting_id, plan.n_frames
    mdir = os.path.join(root, "amicorpus", m)
    heads = {f"{m}.Headset-{p.channel}.wav" for p in plan.participants}
    assert set(os.listdir(os.path.join(mdir, "audio"))) == heads | {f"{m}.Array1-01.wav", f"{m}.Mix-Headset.wav"}
    assert set(os.listdir(os.path.join(mdir, "video"))) == {f"{m}.Closeup{p.camera}.avi" for p in plan.participants}
    assert sorted(p.channel for p in plan.participants) == [0, 1, 2, 3]
    for name in os.listdir(os.path.join(mdir, "audio")):
        info = sf.info(os.path.join(mdir, "audio", name))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", n * 640)
    for name in os.listdir(os.path.join(mdir, "video")):
        info = probe_video(os.path.join(mdir, "video", name))
        assert (info.fps, info.height, info.width, info.n_frames) == (25.0, 96, 96, n)

    ann = Annotations(os.path.join(root, ANNOTATIONS))
    speakers = read_speakers(ann, {})
    assert {k: (s.name, s.channel, s.camera) for k, s in speakers.items()} == {
        (m, p.agent): (p.name, p.channel, p.camera) for p in plan.participants
    }
    segments = read_segments(ann, speakers, {m})
    text = WriterOptions().text_normalization()
    got = {s.uid: normalize_text(s.text, text) for s in segments}
    assert got == _expected_segments(plan)
    assert any(u.backchannel for u in plan.utterances) and len(got) == len(plan.utterances)

    seglst = json.load(open(os.path.join(root, f"{m}.seglst.json")))
    assert {s["session_id"] for s in seglst} == {m}
    assert [s["start_time"] for s in seglst] == sorted(s["start_time"] for s in seglst)
    by_time = sorted((round(s.start, 2), s.speaker.name, normalize_text(s.text, text)) for s in segments)
    assert sorted((s["start_time"], s["speaker"], s["words"]) for s in seglst) == by_time
    rttm = [line.split() for line in open(os.path.join(root, f"{m}.rttm"))]
    assert [(t[0], t[1], t[2], t[7]) for t in rttm] == [("SPEAKER", m, "1", s["speaker"]) for s in seglst]
    assert [float(t[4]) for t in rttm] == pytest.approx([s["end_time"] - s["start_time"] for s in seglst])


@pytest.mark.parametrize("mic", ["ihm", "sdm"])
def test_the_raw_ami_recipe_prepares_the_meeting(meeting, tmp_path, mic):
    from avhubert_ami.prep.ami import prepare_ami

    pytest.importorskip("lhotse")
    pytest.importorskip("cv2")
    root, plan = meeting
    out = str(tmp_path / mic)
    # haar: the cheap landmark backend (lip-mode close-ups are mouth crops: no face, so the rows keep audio only)
    summary = prepare_ami(root, out, mic=mic, backend="haar")
    assert summary.failed == [] and any("test: 1 of 16 test meetings present" in n for n in summary.notes)
    manifest, labels = mf.load_split(out, "test")
    assert dict(zip((r.id for r in manifest.rows), labels)) == _expected_segments(plan)
    # each row's audio is cut from the right recording: the speaker's own headset (channel from meetings.xml), or
    # the room microphone
    row = manifest.rows[0]
    name, start = row.id.split("_")[1], int(row.id.split("_")[2]) * 160
    channel = next(p.channel for p in plan.participants if p.name == name)
    source = f"Headset-{channel}" if mic == "ihm" else "Array1-01"
    whole, _ = sf.read(os.path.join(root, "amicorpus", plan.meeting_id, "audio", f"{plan.meeting_id}.{source}.wav"))
    got, _ = sf.read(row.audio)
    assert np.allclose(got, whole[start : start + len(got)], atol=1e-4)


def test_overlap_share_is_met_and_overlap_is_pairwise(meeting):
    root, plan = meeting
    measured = _rttm_share(os.path.join(root, f"{plan.meeting_id}.rttm"))
    assert 0.15 <= measured <= 0.20
    assert measured == pytest.approx(overlap_share(plan), abs=1e-9)
    assert json.load(open(os.path.join(root, f"{plan.meeting_id}.synth.json")))["overlap_share"] == overlap_share(plan)
    for seconds, seed in ((35, 1), (40, 2), (180, 3)):
        p = plans(MeetingConfig(seed=seed, seconds=seconds))[0]
        assert 0.15 <= overlap_share(p) <= 0.20, (seconds, seed)
        assert speech_activity(p).sum(axis=0).max() == 2  # never three talkers at once
    for target in (0.0, 0.05):  # a knob, not a constant
        p = plans(MeetingConfig(seed=4, seconds=60, overlap=target))[0]
        assert overlap_share(p) == pytest.approx(target, abs=0.01)
    bcs = [u for u in plans(MeetingConfig(seed=3, seconds=180))[0].utterances if u.backchannel]
    assert len(bcs) >= 3 and {u.words for u in bcs} <= {(w,) for w, _ in BACKCHANNELS}


def test_crosstalk_levels_and_participants_who_never_speak(tmp_path):
    """Only A speaks: every other headset holds A's voice 8-20 dB lower (as drawn), and B-D have no transcript."""
    cfg = MeetingConfig(seed=7, seconds=12.0, talkativeness=(1.0, 0.0, 0.0, 0.0), workers=1)
    root = str(tmp_path)
    generate_meetings(root, cfg)
    plan = plans(cfg)[0]
    m = plan.meeting_id
    assert {u.participant for u in plan.utterances} == {0}
    speech = np.repeat(speech_activity(plan)[0], 640)
    energy = []
    for p in plan.participants:
        wave, _ = sf.read(os.path.join(root, "amicorpus", m, "audio", f"{m}.Headset-{p.channel}.wav"))
        energy.append(np.mean(wave[speech] ** 2))
        assert probe_video(os.path.join(root, "amicorpus", m, "video", f"{m}.Closeup{p.camera}.avi")).n_frames == (
            plan.n_frames
        )
    truth = json.load(open(os.path.join(root, f"{m}.synth.json")))["crosstalk_db"]
    a = plan.participants[0].name
    for k, p in enumerate(plan.participants[1:], 1):
        below = 10 * np.log10(energy[0] / energy[k])
        assert 8.0 - 0.5 <= below <= 20.0 and below == pytest.approx(truth[p.name][a], abs=1.0)
    assert len({round(truth[p.name][a], 3) for p in plan.participants[1:]}) == 3  # a gain per headset pair
    words = os.path.join(root, ANNOTATIONS, "words")
    for p in plan.participants[1:]:  # silent participants: empty (but present) transcripts, as in AMI
        assert "<w " not in open(os.path.join(words, f"{m}.{p.agent}.words.xml")).read()
    assert {s["speaker"] for s in json.load(open(os.path.join(root, f"{m}.seglst.json")))} == {a}


def test_same_seed_same_bytes_whatever_the_workers_and_face_closeups(tmp_path):
    cfg = dict(seed=11, seconds=5.0, closeup="face", n_participants=2)
    one, two, other = (str(tmp_path / k) for k in ("one", "two", "other"))
    generate_meetings(one, MeetingConfig(workers=1, **cfg))
    generate_meetings(two, MeetingConfig(workers=2, **cfg))
    assert folder_digest(one) == folder_digest(two)
    generate_meetings(other, MeetingConfig(**dict(cfg, seed=12)))
    a, b = folder_digest(one), folder_digest(other)
    assert all(a[k] != b[k] for k in a.keys() & b.keys() if k.endswith((".wav", ".avi")))
    video = os.path.join(one, "amicorpus", "ES2004a", "video")
    info = probe_video(os.path.join(video, sorted(os.listdir(video))[0]))
    assert (info.fps, info.height, info.width, info.n_frames) == (25.0, 288, 352, 125)  # AMI's close-up size


def test_face_closeups_give_a_mouth_roi(tmp_path):
    """On-the-fly mouth-ROI detection finds the face of a ``face`` close-up."""
    pytest.importorskip("mediapipe")
    from avhubert_ami.prep import media
    from avhubert_ami.prep.mouth_roi import crop_mouth_result

    generate_meetings(str(tmp_path), MeetingConfig(seed=1, seconds=5.0, closeup="face", n_participants=1))
    path = os.path.join(str(tmp_path), "amicorpus", "ES2004a", "video")
    rgb, fps = media.read_rgb(os.path.join(path, os.listdir(path)[0]), 0.0, 1.0)
    result = crop_mouth_result(rgb, fps, backend="mediapipe")
    assert result.detected.all() and result.frames.shape == (25, 96, 96)


def test_lips_move_with_speech_and_sometimes_without(meeting):
    root, plan = meeting
    ratios = []
    for i, p in enumerate(plan.participants):
        frames = read_video(
            os.path.join(root, "amicorpus", plan.meeting_id, "video", f"{plan.meeting_id}.Closeup{p.camera}.avi")
        )
        mouth = frames[:, 30:85, 15:81].astype(np.float32)
        energy = np.concatenate([[0.0], np.abs(np.diff(mouth, axis=0)).mean(axis=(1, 2))])
        speaking = speech_activity(plan)[i]
        still = ~speaking
        for u in plan.utterances:
            if u.participant == i:
                still[u.start : u.end] = False
        for mo in plan.motions:
            if mo.participant == i:
                still[mo.start : mo.start + mo.n_frames] = False
        for b in chunk_bounds(plan, i):  # a new head pose: a jump
            still[max(0, b - 1) : b + 2] = False
        if speaking.any():
            ratios.append(energy[speaking].mean() / energy[still].mean())
    assert min(ratios) > 1.5
    # non-speech motion: about `nonspeech_motion` of each participant's silent time, with a visible mouth shape
    long_plan = plans(MeetingConfig(seed=2, seconds=180))[0]
    kinds = {mo.kind for mo in long_plan.motions}
    assert kinds == set(MOTIONS)
    for i in range(len(long_plan.participants)):
        busy = np.zeros(long_plan.n_frames, dtype=bool)
        for u in long_plan.utterances:
            if u.participant == i:
                busy[u.start : u.end] = True
        moving = sum(mo.n_frames for mo in long_plan.motions if mo.participant == i)
        assert 0.07 <= moving / (~busy).sum() <= 0.12
        assert not any(busy[mo.start : mo.start + mo.n_frames].any() for mo in long_plan.motions if mo.participant == i)
    track = MouthTrack(long_plan, 0)
    for mo in (m for m in long_plan.motions if m.participant == 0 and m.kind != "nod"):
        shapes, _ = track.frames(mo.start, mo.start + mo.n_frames)
        rest, _ = track.frames(mo.start - 3, mo.start - 2)
        assert np.abs(shapes - rest).max() > 1.0  # the mouth opens or spreads


def test_meeting_ids_are_the_recipes_and_speakers_are_new():
    from avhubert_ami.prep.ami import partition_meetings

    pytest.importorskip("lhotse")
    table = partition_meetings("full-corpus-asr")
    assert set(TEST_MEETINGS) == set(table["test"]) and set(DEV_MEETINGS) == set(table["dev"])
    train = default_avoid(0)
    meetings = plans(MeetingConfig(seed=0, n_meetings=8))  # ES2004a-d share people; IS1009a-d others
    people = {p.name: p.speaker for plan in meetings for p in plan.participants}
    assert len(people) == 8 and [p.name for p in meetings[0].participants] == [p.name for p in meetings[3].participants]
    assert not any(_too_close(s, t) for s in people.values() for t in train)
    assert not set(people) & {t.name for t in train}
    assert all(name[0] in "FM" and name[1:3] == "SY" for name in people)


def test_command_line_meeting_mode(tmp_path, capsys):
    out = str(tmp_path / "cli")
    argv = ["--output_dir", out, "--meetings", "1", "--meeting_minutes", "0.1", "--workers", "1", "--quiet"]
    assert synth_ami.main(argv + ["--participants", "2", "--talkativeness", "1", "0"]) == 0
    assert "wrote meetings ES2004a" in capsys.readouterr().out
    assert sorted(os.listdir(os.path.join(out, "amicorpus", "ES2004a", "video"))) == sorted(
        f"ES2004a.Closeup{p.camera}.avi"
        for p in plans(MeetingConfig(seed=0, seconds=6.0, n_participants=2, talkativeness=(1.0, 0.0)))[0].participants
    )
    assert synth_ami.main(argv + ["--n_train", "5"]) == 2  # a flag of the utterance corpus
    assert synth_ami.main(["--output_dir", out, "--closeup", "face"]) == 2  # a meeting flag without --meetings
    assert synth_ami.main(argv[:2] + ["--meetings", "17"]) == 2  # the eval list has 16 meetings
    assert synth_ami.main(argv + ["--talkativeness", "1", "1"]) == 2  # one weight per participant (4)
    assert "error" in capsys.readouterr().err
