"""Numerical parity of our forward passes with upstream AV-HuBERT's, given the same weights.

tests/assets/models_parity.pt holds outputs of upstream's own model code (facebookresearch/av_hubert,
run once as an oracle; no upstream code is in this repository) and its state-dict layouts. Weights and
inputs are rebuilt here from integer hashes (tests.support.models.det_state_dict / parity_inputs), loaded
through upstream's key layout with strict=True, and every output must agree to 1e-5 (float32).
"""

from __future__ import annotations

import types
from typing import Dict

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import avhubert_ami  # noqa: F401  registers models
from avhubert_ami.models.encoder import AVHubertConfig, AVHubertModel
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.testing.models import make_dictionary
from tests.support.models import (
    PARITY_CASES,
    PARITY_DECODER,
    PARITY_ENCODER,
    PARITY_FIXTURE,
    PARITY_LABELS,
    PARITY_MASK,
    PARITY_MASK_SCENARIOS,
    PARITY_MASK_SEEDS,
    PARITY_VOCAB,
    det_state_dict,
    parity_inputs,
    parity_targets,
)

ATOL = 1e-5


@pytest.fixture(scope="module")
def fixture():
    return torch.load(PARITY_FIXTURE, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def inputs():
    return parity_inputs()


def _weights(layout: Dict[str, list]) -> Dict[str, torch.Tensor]:
    """Deterministic weights laid out as upstream's state dict (integer buffers: BatchNorm step counts)."""
    template = {
        k: torch.zeros(shape, dtype=torch.long if k.endswith("num_batches_tracked") else torch.float32)
        for k, shape in layout.items()
    }
    return det_state_dict(template)


def assert_parity(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != upstream {tuple(want.shape)}"
    if want.dtype == torch.bool:
        assert torch.equal(got, want), f"{what}: padding mask differs from upstream"
        return
    diff = (got - want).abs().max().item()
    assert diff <= ATOL, f"{what}: max abs diff {diff:.3e} > {ATOL} vs upstream"


_PRETRAIN: Dict[str, AVHubertModel] = {}


def _pretrain_model(case: str, layout) -> AVHubertModel:
    """Our ``av_hubert`` with upstream's weights for ``case`` (built once per test session)."""
    if case not in _PRETRAIN:
        enc = {**PARITY_ENCODER, **PARITY_CASES[case][0]}
        model = AVHubertModel(AVHubertConfig(**enc), types.SimpleNamespace(sample_rate=25), [PARITY_LABELS + 4])
        model.load_state_dict(_weights(layout), strict=True)
        _PRETRAIN[case] = model.eval()
    return _PRETRAIN[case]


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_encoder_matches_upstream(case, fixture, inputs):
    ref = fixture["cases"][case]
    want = ref["outputs"]
    model = _pretrain_model(case, ref["layout_pretrain"])
    a, v, pad = inputs["audio"], inputs["video"], inputs["padding_mask"]
    with torch.no_grad():
        for name, src in (
            ("av", {"audio": a, "video": v}),
            ("a", {"audio": a, "video": None}),
            ("v", {"audio": None, "video": v}),
        ):
            x, pm = model.extract_finetune(src, padding_mask=pad)
            assert_parity(x, want[f"ft_{name}"], f"{case} extract_finetune {name}")
            assert_parity(pm, want[f"ft_{name}_pad"], f"{case} extract_finetune {name} padding")
        x, _ = model.extract_finetune({"audio": a, "video": None}, padding_mask=pad, ret_conv=True)
        assert_parity(x, want["ft_a"], f"{case} extract_finetune(ret_conv=True) (ignored upstream)")
        res = model({"audio": a, "video": v}, padding_mask=pad, mask=False, features_only=True)
        assert_parity(res["x"], want["pre_x"], f"{case} forward(features_only) x")
        assert_parity(res["features"], want["pre_features"], f"{case} forward(features_only) features")
        assert_parity(res["padding_mask"], want["pre_pad"], f"{case} forward(features_only) padding")
        if case == "concat_prenorm":
            x, _ = model.extract_finetune({"audio": a, "video": v}, padding_mask=pad, output_layer=1)
            assert_parity(x, want["ft_av_layer1"], f"{case} output_layer=1")
            x, _ = model.extract_finetune({"audio": a, "video": v})
            assert_parity(x, want["ft_av_nopad"], f"{case} no padding mask")


@pytest.mark.parametrize("case", ["concat_prenorm", "add_postnorm_sub"])
def test_presence_rows_match_upstream_single_modality_runs(case, fixture, inputs):
    """A row marked absent for a modality equals upstream run on that row alone with the modality None."""
    ref = fixture["cases"][case]
    want = ref["outputs"]
    model = _pretrain_model(case, ref["layout_pretrain"])
    a, v, pad = inputs["audio"], inputs["video"], inputs["padding_mask"]
    tag = {(True, True): "av", (True, False): "a", (False, True): "v"}
    with torch.no_grad():
        for present in ([[True, True], [False, True]], [[True, False], [True, True]]):
            present_t = torch.tensor(present)
            x, _ = model.extract_finetune({"audio": a, "video": v, "present": present_t}, padding_mask=pad)
            for b, row in enumerate(present):
                name = f"row{b}_{tag[tuple(row)]}"
                assert_parity(x[b : b + 1], want[name], f"{case} present={present} row {b} vs upstream {name}")


def _seq2seq_model(case: str, layout) -> AVHubertSeq2Seq:
    enc_o, dec_o = PARITY_CASES[case]
    enc = {**PARITY_ENCODER, **enc_o}
    w2v_args = OmegaConf.create(
        {
            "model": {"_name": "av_hubert", **enc},
            "task": {
                "_name": "av_hubert_pretraining",
                "data": "/nonexistent",
                "labels": ["km"],
                "label_rate": 25,
                "sample_rate": 25,
                "normalize": True,
            },
        }
    )
    cfg = AVHubertSeq2SeqConfig(w2v_args=w2v_args, normalize=True, data="/nonexistent", **{**PARITY_DECODER, **dec_o})
    task = types.SimpleNamespace(target_dictionary=make_dictionary(PARITY_VOCAB - 4), source_dictionary=None)
    model = AVHubertSeq2Seq.build_model(cfg, task)
    # upstream's layout carries the pretraining label embeddings: loading adapts ours to them
    model.load_state_dict(_weights(layout), strict=True)
    return model.eval()


@pytest.mark.parametrize("case", [c for c, (_, dec) in PARITY_CASES.items() if dec is not None])
def test_seq2seq_matches_upstream(case, fixture, inputs):
    ref = fixture["cases"][case]
    want = ref["outputs"]
    model = _seq2seq_model(case, ref["layout_seq2seq"])
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == ref["layout_seq2seq"]
    a, v, pad, prev = inputs["audio"], inputs["video"], inputs["padding_mask"], inputs["prev_output_tokens"]
    with torch.no_grad():
        # video-only encoding is covered by test_encoder_matches_upstream (one ResNet pass less here)
        full, _ = model(source={"audio": a, "video": None}, padding_mask=pad, prev_output_tokens=prev)
        assert_parity(full, want["s2s_logits_a"], f"{case} model forward, audio only")
        enc = model.encoder(source={"audio": a, "video": v}, padding_mask=pad)
        assert_parity(enc["encoder_out"], want["s2s_enc_av"], f"{case} encoder_out")
        logits, _ = model.decoder(prev, encoder_out=enc)
        assert_parity(logits, want["s2s_logits_av"], f"{case} decoder logits")
        state: dict = {}
        steps = [
            model.decoder(prev[:, : t + 1], encoder_out=enc, incremental_state=state)[0] for t in range(prev.size(1))
        ]
        assert_parity(torch.cat(steps, dim=1), want["s2s_incremental_av"], f"{case} incremental decoding")


@pytest.mark.parametrize("scenario", list(PARITY_MASK_SCENARIOS))
def test_masked_pretraining_forward_matches_upstream(scenario, fixture, inputs):
    """Seeded span masking (input: audio -> mask_emb, video from another/the same sequence; feature +
    channel masking) picks upstream's frames, consumes numpy's RNG as upstream does, and so gives
    upstream's logits and targets."""
    case, extra = PARITY_MASK_SCENARIOS[scenario]
    want = fixture["masked"][scenario]
    enc = {**PARITY_ENCODER, **PARITY_CASES[case][0], **PARITY_MASK, **extra}
    model = AVHubertModel(AVHubertConfig(**enc), types.SimpleNamespace(sample_rate=25), [PARITY_LABELS + 4])
    model.load_state_dict(_weights(fixture["cases"][case]["layout_pretrain"]), strict=True)
    model.eval()
    a, v, pad = inputs["audio"], inputs["video"], inputs["padding_mask"]
    with torch.no_grad():
        for seed in PARITY_MASK_SEEDS:
            np.random.seed(seed)
            torch.manual_seed(seed)
            res = model({"audio": a, "video": v}, target_list=parity_targets(), padding_mask=pad, mask=True)
            for key in ("target_m_list", "target_u_list", "logit_m_list", "logit_u_list"):
                assert_parity(res[key][0], want[f"s{seed}_{key}"], f"{scenario} seed {seed} {key}")
            assert_parity(res["features_pen"], want[f"s{seed}_features_pen"], f"{scenario} seed {seed} features_pen")
            after = torch.tensor(np.random.randint(0, 2**31, size=4))
            assert torch.equal(after, want[f"s{seed}_np_state_after"]), f"{scenario}: numpy RNG consumed differently"
        if "ft_masked" in want:
            np.random.seed(5)
            torch.manual_seed(5)
            x, _ = model.extract_finetune({"audio": a, "video": v}, padding_mask=pad, mask=True)
            assert_parity(x, want["ft_masked"], f"{scenario} extract_finetune(mask=True)")
    assert torch.equal(inputs["video"], parity_inputs()["video"]), "masking must not write into the caller's video"
