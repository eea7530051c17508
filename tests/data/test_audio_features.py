"""Audio features match python_speech_features + upstream's stacker / alignment / layer norm."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from python_speech_features import logfbank as psf_logfbank

from avhubert_ami.data import features as FE


def _int16_wave(n, seed=0):
    return np.random.default_rng(seed).integers(-8000, 8000, size=n).astype(np.int16)


def _upstream_stacker(feats, stack_order):
    # transcription of upstream's algorithm (hubert_dataset.load_feature.stacker) for the check
    feat_dim = feats.shape[1]
    if len(feats) % stack_order != 0:
        res = np.zeros([stack_order - len(feats) % stack_order, feat_dim]).astype(feats.dtype)
        feats = np.concatenate([feats, res], axis=0)
    return feats.reshape((-1, stack_order, feat_dim)).reshape(-1, stack_order * feat_dim)


@pytest.mark.parametrize("n", [400, 401, 16000, 16000 + 160 * 3 + 17, 12345])
def test_logfbank_equals_psf_on_int16(n):
    pcm = _int16_wave(n)
    ref = psf_logfbank(pcm, samplerate=16000).astype(np.float32)
    ours = FE.logfbank(pcm.astype(np.float32) / 32768.0)
    assert ours.shape == ref.shape and ours.shape[1] == 26
    np.testing.assert_array_equal(ours, ref)
    assert FE.num_feature_frames(n) == -(-len(ref) // 4)


def test_stack_and_full_pipeline_match_upstream():
    pcm = _int16_wave(16000 + 640 * 3 + 123, seed=1)
    ref = _upstream_stacker(psf_logfbank(pcm, samplerate=16000).astype(np.float32), 4)
    n_video = len(ref) - 2
    for n_frames in (n_video, len(ref) + 3):
        out = FE.audio_features(pcm.astype(np.float32) / 32768.0, n_frames=n_frames)
        assert out.dtype == torch.float32 and out.shape == (n_frames, 104)
        m = min(len(ref), n_frames)
        np.testing.assert_array_equal(out[:m].numpy(), ref[:m])
        assert (out[m:] == 0).all()
    normed = FE.audio_features(pcm.astype(np.float32) / 32768.0, n_frames=len(ref) + 3, normalize=True)
    full = torch.from_numpy(np.concatenate([ref, np.zeros((3, 104), np.float32)]))
    torch.testing.assert_close(normed, F.layer_norm(full, full.shape[1:]))
    assert torch.allclose(normed[:-3].mean(1), torch.zeros(1), atol=1e-5)


def test_stack_frames_shapes():
    x = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    y = FE.stack_frames(x, 4)
    assert y.shape == (2, 8)
    np.testing.assert_array_equal(y[0], x[:4].ravel())
    np.testing.assert_array_equal(y[1], np.concatenate([x[4:].ravel(), [0, 0]]))
    np.testing.assert_array_equal(FE.stack_frames(x[:4], 4), x[:4].reshape(1, 8))


def test_logfbank_digital_silence_matches_psf():
    pcm = np.zeros(4000, np.int16)
    pcm[1000:1100] = 300
    np.testing.assert_array_equal(FE.logfbank(pcm / 32768.0), psf_logfbank(pcm, samplerate=16000).astype(np.float32))
