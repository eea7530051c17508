"""Per-sample modality presence and modality dropout, shared by the dataset and the model.

Presence is a ``BoolTensor[B, 2]``: column 0 is audio, column 1 is video. A row whose
modality is absent gets zeros of the fused feature size for it (upstream's behaviour for a
missing modality), so one batch can mix audio-visual, audio-only and video-only rows.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

AUDIO, VIDEO = 0, 1


def check_drop_probs(audio_drop_prob: float, visual_drop_prob: float) -> None:
    """Reject probabilities outside [0, 1] or summing above 1 (both can never be dropped)."""
    for name, p in (("audio_drop_prob", audio_drop_prob), ("visual_drop_prob", visual_drop_prob)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    if audio_drop_prob + visual_drop_prob > 1.0 + 1e-9:
        raise ValueError(
            f"audio_drop_prob + visual_drop_prob must be <= 1 (a sample never loses both modalities), "
            f"got {audio_drop_prob} + {visual_drop_prob}"
        )


def draw_modality_drop(
    batch_size: int,
    audio_drop_prob: float,
    visual_drop_prob: float,
    generator: Optional[torch.Generator] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Draw which samples lose audio and which lose video; never both for one sample.

    One uniform draw ``u`` per sample: audio is dropped when ``u < audio_drop_prob``, video when
    ``audio_drop_prob <= u < audio_drop_prob + visual_drop_prob``, so the marginal rates are
    exactly the given probabilities and the two events are mutually exclusive.
    """
    check_drop_probs(audio_drop_prob, visual_drop_prob)
    u = torch.rand(batch_size, generator=generator)
    drop_audio = u < audio_drop_prob
    drop_video = (u >= audio_drop_prob) & (u < audio_drop_prob + visual_drop_prob)
    return drop_audio, drop_video


def apply_modality_drop(
    present: torch.Tensor,
    audio_drop_prob: float,
    visual_drop_prob: float,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Return a copy of ``present`` with modalities dropped, keeping at least one per sample.

    A sample that already lacks one modality never loses the other.
    """
    drop_audio, drop_video = draw_modality_drop(present.shape[0], audio_drop_prob, visual_drop_prob, generator)
    drop_audio = drop_audio.to(present.device) & present[:, VIDEO]
    drop_video = drop_video.to(present.device) & present[:, AUDIO]
    out = present.clone()
    out[:, AUDIO] &= ~drop_audio
    out[:, VIDEO] &= ~drop_video
    return out
