"""Modality names and their parsing, per-sample modality presence and modality dropout.

The one home of the modality vocabulary: :data:`MODALITIES` (from :mod:`avhubert_ami.data.constants`),
:func:`config_list` for list-valued config fields (``task.modalities``, ``task.labels``) and
:func:`parse_modalities` for the ``--modalities`` flags of ``avhubert-decode`` and ``avhubert-transcribe``.

Presence is a ``BoolTensor[B, 2]``: column 0 is audio, column 1 is video. A row whose
modality is absent gets zeros of the fused feature size for it (upstream's behaviour for a
missing modality), so one batch can mix audio-visual, audio-only and video-only rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:  # torch is imported where tensors are made: parsing a flag must not load it
    import torch

from avhubert_ami.data.constants import MODALITIES

AUDIO, VIDEO = 0, 1  # presence columns, in MODALITIES order


def config_list(value: Any) -> List[str]:
    """A list config value given as a list, ``"a,b"``, ``"[a, b]"`` or ``"['a','b']"`` -> ``["a", "b"]``."""
    if value is None:
        return []
    items = value.strip().strip("[]").split(",") if isinstance(value, str) else list(value)
    cleaned = (str(x).strip().strip("'\"").strip() for x in items)
    return [x for x in cleaned if x]


def parse_modalities(value: Union[None, str, Sequence[str]], allow_auto: bool = False) -> Optional[Tuple[str, ...]]:
    """A ``--modalities`` value -> sorted unique tuple of :data:`MODALITIES`; None when not given (the checkpoint's
    own), or ``auto`` with ``allow_auto``.

    Takes one string (``audio``, ``audio,video``) or argparse's ``nargs="+"`` list (``["audio", "video"]``,
    ``["audio,video"]``); anything else is a ValueError listing the accepted values.
    """
    if value is None or (not isinstance(value, str) and len(value) == 0) or value == "":
        return None
    items = config_list(value) if isinstance(value, str) else [m for v in value for m in config_list(v)]
    if allow_auto and items == ["auto"]:
        return None
    mods = tuple(sorted(set(items)))
    if not mods or any(m not in MODALITIES for m in mods):
        accepted = ("auto, " if allow_auto else "") + "audio, video or audio,video"
        raise ValueError(f"--modalities must be {accepted}; got {value!r}")
    return mods


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
    import torch

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
