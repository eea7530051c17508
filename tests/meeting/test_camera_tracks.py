"""Close-up cameras on the meeting's 25 fps clock (avhubert_ami.meeting.tracks): frames taken by timestamp whatever
the camera's rate or start, mouth crops made on the fly from a face video equal to the preprocessing's, faceless
stretches flagged, and a 25 fps clip left for the decoding."""

import numpy as np
import pytest

from avhubert_ami.meeting.tracks import CameraTrack, on_clock


def _write_timed(path, values, fps, first_pts=0, size=96):
    """A gray FFV1 clip whose frame i is uniformly ``values[i]``, shown at ``(first_pts + i) / fps`` s."""
    from fractions import Fraction

    import av

    with av.open(path, "w", format="matroska") as c:
        rate = Fraction(fps).limit_denominator(1001)
        s = c.add_stream("ffv1", rate=rate)
        s.width = s.height = size
        s.pix_fmt = "gray"
        s.codec_context.time_base = 1 / rate
        for i, v in enumerate(values):
            frame = av.VideoFrame.from_ndarray(np.full((size, size), v, np.uint8), format="gray")
            frame.pts = first_pts + i
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    return path


def _read_all(track):
    frames, face = zip(*track.chunks(size=7))
    return np.concatenate(frames), np.concatenate(face)


def test_on_clock_takes_the_frame_shown_at_each_25_fps_slot():
    timed = [(i / 30, i) for i in range(60)]  # 2 s at 30 fps
    got = list(on_clock(iter(timed), 30.0))
    assert len(got) == 50
    assert got == [min(59, int(k * 30 / 25 + 0.5)) for k in range(50)]  # the nearest frame in time
    assert list(on_clock(iter([(i / 25, i) for i in range(10)]), 25.0)) == list(range(10))
    late = list(on_clock(iter([(1.0 + i / 25, i) for i in range(5)]), 25.0))  # a camera that starts at 1 s
    assert late == [None] * 25 + list(range(5))


@pytest.mark.parametrize("fps", [25.0, 30.0, 12.5])
def test_a_lip_clip_at_any_rate_lands_on_the_clock(tmp_path, fps):
    n = int(2 * fps)
    path = _write_timed(str(tmp_path / "clip.mkv"), [4 * i for i in range(n)], fps)
    track = CameraTrack("A", path, True, str(tmp_path / "a.mouth.mkv"))
    frames, face = _read_all(track)
    assert len(frames) == 50 and face.all()
    shown = [int(f[0, 0]) // 4 for f in frames]  # the source frame each slot shows
    assert all(abs(i / fps - k / 25) <= 0.5 / fps + 1e-9 for k, i in enumerate(shown))  # the nearest in time
    assert shown == sorted(shown) and shown[-1] == n - 1
    assert (
        track.face_fraction(0.0, 2.0) == 1.0 and track.face_fraction(1.9, 2.5) == 2 / 14
    )  # frames 48-61, two of them filmed
    if fps == 25.0:
        assert track.clip == path and not (tmp_path / "a.mouth.mkv").exists()  # used as it is
    else:
        assert track.clip == str(tmp_path / "a.mouth.mkv") and any(f"{fps:g} fps" in n for n in track.notes)
        from avhubert_ami.transcribe.roi import lip_clip_frames

        again = lip_clip_frames(track.clip, 0.4, 1.2, 25.0)  # the decoding's reader, by time range
        assert np.array_equal(again, frames[10:30])


def test_a_camera_that_starts_late_is_faceless_before_and_its_clip_keeps_the_lead_in(tmp_path):
    from avhubert_ami.transcribe.roi import lip_clip_frames

    path = _write_timed(str(tmp_path / "late.mkv"), [100 + i for i in range(25)], 25.0, first_pts=25)
    track = CameraTrack("A", path, True, str(tmp_path / "a.mouth.mkv"))
    frames, face = _read_all(track)
    assert len(frames) == 50 and not face[:25].any() and face[25:].all()
    assert track.clip == str(tmp_path / "a.mouth.mkv")
    assert [int(f[0, 0]) for f in lip_clip_frames(track.clip, 1.0, 1.2, 25.0)] == [100, 101, 102, 103, 104]
    assert track.face_fraction(0.0, 1.0) == 0.0


def test_mouth_crops_on_the_fly_match_the_preprocessing_and_flag_lost_faces(tmp_path, monkeypatch):
    pytest.importorskip("mediapipe")
    pytest.importorskip("skimage")
    from avhubert_ami.data.video import read_video, write_video
    from avhubert_ami.meeting import tracks
    from avhubert_ami.prep.mouth_roi import crop_mouth_result
    from avhubert_ami.testing.media import astronaut_frames

    rgb, _ = astronaut_frames(40, blank=range(28, 40), zoom=0.6)
    path = str(tmp_path / "face.mkv")
    write_video(path, rgb, fps=25.0)
    expected = crop_mouth_result(rgb, 25.0)
    # one window for the whole clip: the crops are the preprocessing's, frame for frame
    track = CameraTrack("A", path, False, str(tmp_path / "a.mouth.mkv"))
    frames, face = _read_all(track)
    assert len(frames) == 40 and np.array_equal(face, expected.detected) and face[:28].all() and not face[28:].any()
    assert np.array_equal(frames, expected.frames)
    assert track.clip == str(tmp_path / "a.mouth.mkv") and np.array_equal(read_video(track.clip), frames)
    # windows of 20 frames: the faceless second window is flagged, nothing is lost
    monkeypatch.setattr(tracks, "ROI_WINDOW_BYTES", rgb[0].nbytes * 20)
    track = CameraTrack("A", path, False, str(tmp_path / "b.mouth.mkv"))
    frames, face = _read_all(track)
    assert len(frames) == 40 and face[:20].all() and not face[28:].any()


def test_an_unreadable_camera_is_refused_at_once(tmp_path):
    from avhubert_ami.errors import MediaError

    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"no video here" * 100)
    with pytest.raises(MediaError, match="bad.avi"):
        CameraTrack("A", str(bad), True, str(tmp_path / "a.mouth.mkv"))


def test_reading_a_camera_holds_one_chunk_whatever_its_length(tmp_path):
    """Memory flat as the meeting grows: what a track keeps is one flag per frame, not the frames."""
    import tracemalloc

    def peak(n):
        path = _write_timed(str(tmp_path / f"{n}.mkv"), [i % 256 for i in range(n)], 30.0)  # 30 fps: a clip is written
        track = CameraTrack("A", path, True, str(tmp_path / f"{n}.mouth.mkv"))
        tracemalloc.start()
        frames = sum(len(chunk) for chunk, _ in track.chunks())
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert frames == track.n_frames == int(round(n * 25 / 30))
        return top

    short, long = peak(600), peak(3000)  # 20 s and 100 s
    assert long - short < 200_000, (short, long)  # one 250-frame chunk is 2.3 MB; the flags grow by 2 kB
