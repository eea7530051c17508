"""Video IO (PyAV) and the vectorised frame transforms."""

import logging

import numpy as np
import pytest

from avhubert_ami.data import video as V
from avhubert_ami.errors import MediaError
from tests.support.video import pyav_converted_frames


def _frames(t=7, h=96, w=96, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".mkv", ".avi"])
def test_ffv1_gray_round_trip_is_exact(tmp_path, ext):
    frames = _frames()
    path = str(tmp_path / f"clip{ext}")
    V.write_video(path, frames)
    out = V.read_video(path)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    np.testing.assert_array_equal(out, frames)
    info = V.probe_video(path)
    assert info == V.VideoInfo(n_frames=7, fps=25.0, height=96, width=96)


def test_ffv1_odd_size_and_rgb_input(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(3, 17, 21, 3), dtype=np.uint8)
    path = str(tmp_path / "rgb.mkv")
    V.write_video(path, rgb)
    out = V.read_video(path)
    assert out.shape == (3, 17, 21)
    # ffmpeg's RGB->gray is BT.601 luma; allow its rounding/range handling
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.corrcoef(out.ravel().astype(float), luma.ravel())[0, 1] > 0.99


def test_libx264_mp4_round_trip_close(tmp_path):
    frames = np.repeat(np.linspace(30, 220, 96, dtype=np.uint8)[None, None, :], 96, axis=1)
    frames = np.repeat(frames, 5, axis=0)
    path = str(tmp_path / "clip.mp4")
    V.write_video(path, frames, fps=25, codec="libx264")
    out = V.read_video(path)
    assert out.shape == frames.shape
    assert np.abs(out.astype(int) - frames.astype(int)).mean() < 4
    assert V.probe_video(path).n_frames == 5


def test_libx264_rejects_odd_size(tmp_path):
    with pytest.raises(ValueError, match="even width and height"):
        V.write_video(str(tmp_path / "odd.mp4"), _frames(2, 95, 96), codec="libx264")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        V.write_video(str(tmp_path / "a.mkv"), _frames().astype(np.float32))
    with pytest.raises(ValueError, match="0 frames"):
        V.write_video(str(tmp_path / "a.mkv"), np.zeros((0, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="extension"):
        V.write_video(str(tmp_path / "a.webm"), _frames())
    with pytest.raises(ValueError, match="cannot go in"):
        V.write_video(str(tmp_path / "a.mp4"), _frames(), codec="ffv1")


def test_fps_written_and_probed(tmp_path):
    path = str(tmp_path / "c.mkv")
    V.write_video(path, _frames(4), fps=30)
    assert V.probe_video(path).fps == pytest.approx(30.0)


def test_missing_corrupt_and_empty_videos(tmp_path):
    missing = str(tmp_path / "nope.mkv")
    with pytest.raises(MediaError, match="nope.mkv.*not found"):
        V.read_video(missing)
    with pytest.raises(MediaError, match="not found"):
        V.probe_video(missing)
    corrupt = tmp_path / "bad.mp4"
    corrupt.write_bytes(b"this is not a video file" * 20)
    with pytest.raises(MediaError, match="bad.mp4"):
        V.read_video(str(corrupt))
    with pytest.raises(MediaError, match="bad.mp4"):
        V.probe_video(str(corrupt))
    from avhubert_ami.testing.media import write_empty_video

    empty = str(tmp_path / "empty.avi")
    write_empty_video(empty)
    assert V.probe_video(empty).n_frames == 0
    with pytest.raises(MediaError, match="empty.avi.*0 frames"):
        V.read_video(empty)
    truncated = tmp_path / "trunc.mkv"
    V.write_video(str(tmp_path / "ok.mkv"), _frames(5))
    truncated.write_bytes((tmp_path / "ok.mkv").read_bytes()[:300])
    with pytest.raises(MediaError, match="trunc.mkv"):
        V.read_video(str(truncated))


def test_center_crop_and_normalise_values():
    frames = _frames(3, 96, 96)
    out = V.crop_flip_normalize(frames, train=False)
    ref = ((frames[:, 4:92, 4:92].astype(np.float64) / 255.0) - 0.421) / 0.165
    assert out.dtype == np.float32 and out.shape == (3, 88, 88)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)
    # upstream's odd-margin rounding: int(round(w - tw) / 2.) == floor
    odd = V.crop_flip_normalize(_frames(1, 97, 99), crop_size=88)
    assert odd.shape == (1, 88, 88)


def test_random_crop_and_flip_are_windows_of_the_input():
    frames = _frames(2, 96, 96)
    rng = np.random.default_rng(3)
    full = (frames.astype(np.float64) / 255.0 - 0.421) / 0.165
    n_flip = 0
    offsets = set()
    for _ in range(200):
        out = V.crop_flip_normalize(frames, train=True, rng=rng)
        found = False
        for dh in range(9):
            for dw in range(9):
                win = full[:, dh : dh + 88, dw : dw + 88]
                if np.allclose(out, win, atol=1e-5):
                    found = True
                    offsets.add((dh, dw))
                elif np.allclose(out, win[:, :, ::-1], atol=1e-5):
                    found = True
                    n_flip += 1
                    offsets.add((dh, dw))
                if found:
                    break
            if found:
                break
        assert found
    assert 70 < n_flip < 130  # p = 0.5
    assert len(offsets) > 20


def test_conform_video_fps_and_size(tmp_path, caplog):
    frames = _frames(50, 96, 96)
    with pytest.raises(MediaError, match="clip.mkv.*50 fps, expected 25"):
        V.conform_video(frames, 50.0, "clip.mkv")
    out = V.conform_video(frames, 50.0, "clip.mkv", resample_fps=True)
    np.testing.assert_array_equal(out, frames[::2])
    idx = V.resample_frame_indices(10, 12.5)
    np.testing.assert_array_equal(idx, np.repeat(np.arange(10), 2))
    V._warned_resize = False
    with caplog.at_level(logging.WARNING):
        big = V.conform_video(_frames(3, 120, 160), 25.0, "big.mkv")
        V.conform_video(_frames(3, 120, 160), 25.0, "big2.mkv")
    assert big.shape == (3, 96, 96) and big.dtype == np.uint8
    assert sum("resizing" in r.message for r in caplog.records) == 1
    const = V.resize_frames(np.full((2, 50, 70), 123, np.uint8))
    assert (const == 123).all()


@pytest.mark.parametrize("shape", [(6, 32, 48), (4, 96, 96), (3, 50, 70)])
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p", "yuv444p", "rgb24"])
def test_gray_matches_per_frame_to_ndarray(tmp_path, shape, pix_fmt):
    """The luma-table fast path gives exactly ffmpeg's own gray conversion."""
    import av

    t, h, w = shape
    rgb = np.random.default_rng(5).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)
    path = str(tmp_path / "c.mkv")
    with av.open(path, "w", format="matroska") as c:
        s = c.add_stream("ffv1" if pix_fmt != "yuvj420p" else "mjpeg", rate=25)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt if pix_fmt != "rgb24" else "bgr0"
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(rgb[i], format="rgb24")
            frame.pts = i
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    np.testing.assert_array_equal(V.read_video(path), pyav_converted_frames(path, "gray"))


def test_downsample_averages_pixel_blocks_of_the_crop():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, 96, 96), dtype=np.uint8)
    full = V.crop_flip_normalize(frames, 88, mean=0.0, std=1.0)
    half = V.crop_flip_normalize(frames, 88, mean=0.0, std=1.0, downsample=2)
    assert half.shape == (3, 44, 44) and half.dtype == np.float32
    expected = full.reshape(3, 44, 2, 44, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(half, expected, rtol=1e-6, atol=1e-6)
    norm = V.crop_flip_normalize(frames, 88, downsample=2)  # normalisation applies after pooling
    np.testing.assert_allclose(norm, (half - 0.421) / 0.165, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not a multiple"):
        V.crop_flip_normalize(frames, 88, downsample=3)
