"""Audio IO: read/write, rate and channel checks, PyAV fallback."""

import numpy as np
import pytest
import soundfile as sf

from avhubert_ami.data.audio import read_audio, write_audio
from avhubert_ami.errors import MediaError


def _tone(n=16000, rate=16000, f=440.0):
    return (0.5 * np.sin(2 * np.pi * f * np.arange(n) / rate)).astype(np.float32)


def test_wav_round_trip_16bit(tmp_path):
    wave = _tone(8000)
    path = str(tmp_path / "a.wav")
    write_audio(path, wave)
    info = sf.info(path)
    assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
    out = read_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1 and len(out) == 8000
    np.testing.assert_allclose(out, wave, atol=1.0 / 32768 + 1e-7)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_write_clips_and_rejects_nan(tmp_path):
    path = str(tmp_path / "c.wav")
    write_audio(path, np.array([2.0, -3.0, 0.5], np.float32))
    out = read_audio(path)
    assert out.max() <= 1.0 and out.min() == -1.0
    with pytest.raises(ValueError, match="NaN"):
        write_audio(path, np.array([np.nan], np.float32))


def test_wrong_rate_and_resample(tmp_path):
    path = str(tmp_path / "r8k.wav")
    write_audio(path, _tone(8000, rate=8000), sample_rate=8000)
    with pytest.raises(MediaError, match="r8k.wav.*8000 Hz, expected 16000"):
        read_audio(path)
    out = read_audio(path, resample=True)
    assert len(out) == 16000
    ref = _tone(16000)
    assert np.corrcoef(out[100:-100], ref[100:-100])[0, 1] > 0.99


def test_stereo_rejected_unless_mono(tmp_path):
    path = str(tmp_path / "st.wav")
    left, right = _tone(1600), np.zeros(1600, np.float32)
    write_audio(path, np.stack([left, right], axis=1))
    with pytest.raises(MediaError, match="st.wav.*2 channels"):
        read_audio(path)
    out = read_audio(path, mono=True)
    np.testing.assert_allclose(out, left / 2, atol=2.0 / 32768)


def test_missing_empty_corrupt(tmp_path):
    with pytest.raises(MediaError, match="gone.wav.*not found"):
        read_audio(str(tmp_path / "gone.wav"))
    empty = str(tmp_path / "empty.wav")
    sf.write(empty, np.zeros(0, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(MediaError, match="empty.wav.*0 samples"):
        read_audio(empty)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF garbage" * 10)
    with pytest.raises(MediaError, match="bad.wav"):
        read_audio(str(bad))
    bad_m4a = tmp_path / "bad.m4a"
    bad_m4a.write_bytes(b"garbage" * 10)
    with pytest.raises(MediaError, match="bad.m4a"):
        read_audio(str(bad_m4a))


def test_pyav_path_for_other_formats(tmp_path):
    import av

    path = str(tmp_path / "a.mka")
    wave = _tone(3200)
    with av.open(path, "w", format="matroska") as c:
        s = c.add_stream("pcm_s16le", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray((wave * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = 16000
        frame.pts = 0
        c.mux(s.encode(frame))
        c.mux(s.encode(None))
    out = read_audio(path)
    assert len(out) == 3200
    np.testing.assert_allclose(out, wave, atol=2e-4)
