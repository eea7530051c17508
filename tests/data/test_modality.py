"""Modalities: per-sample modality dropout, the one parser of --modalities, and the one home of their names."""

import pytest
import torch

from avhubert_ami.data import modality


def test_drop_rates_exact_and_exclusive():
    g = torch.Generator().manual_seed(0)
    n = 200_000
    drop_a, drop_v = modality.draw_modality_drop(n, 0.2, 0.3, generator=g)
    assert not (drop_a & drop_v).any()
    assert abs(drop_a.float().mean().item() - 0.2) < 0.005
    assert abs(drop_v.float().mean().item() - 0.3) < 0.005


def test_apply_drop_never_removes_last_modality():
    g = torch.Generator().manual_seed(1)
    present = torch.tensor([[True, True], [True, False], [False, True]] * 1000)
    out = modality.apply_modality_drop(present, 0.5, 0.5, generator=g)
    assert out.any(dim=1).all()  # every sample keeps at least one modality
    assert not (out & ~present).any()  # nothing becomes present
    assert out[1::3].tolist() == present[1::3].tolist()  # audio-only rows keep their audio
    assert out[2::3].tolist() == present[2::3].tolist()
    assert 0.4 < (~out[0::3, 0]).float().mean() < 0.6  # full rows lose audio about half the time


@pytest.mark.parametrize("a, v", [(-0.1, 0.0), (0.0, 1.5), (0.6, 0.5)])
def test_bad_drop_probs(a, v):
    with pytest.raises(ValueError):
        modality.check_drop_probs(a, v)


@pytest.mark.parametrize(
    "value,auto,expected",
    [
        (None, False, None),
        ([], False, None),
        ("", True, None),
        ("auto", True, None),
        ("video", False, ("video",)),
        ("video,audio", True, ("audio", "video")),
        (["audio", "video"], False, ("audio", "video")),
        (["audio,video", "audio"], False, ("audio", "video")),
    ],
)
def test_parse_modalities_one_rule_for_every_cli(value, auto, expected):
    assert modality.parse_modalities(value, allow_auto=auto) == expected


@pytest.mark.parametrize("value,auto", [("auto", False), (["lips"], False), ("audio,lips", True), (",", True)])
def test_parse_modalities_rejects_unknown_names(value, auto):
    with pytest.raises(ValueError, match="--modalities must be .*audio, video or audio,video"):
        modality.parse_modalities(value, allow_auto=auto)


def test_modality_names_have_one_home():
    from avhubert_ami.data import constants, dataset
    from avhubert_ami.tasks import ami_av

    assert modality.MODALITIES is constants.MODALITIES is dataset.MODALITIES == ("audio", "video")
    assert ami_av.AMIAVConfig().modalities == list(constants.MODALITIES)
    assert ami_av.as_list is modality.config_list
