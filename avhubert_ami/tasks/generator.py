"""fairseq's SequenceGenerator for dict sources (``source={"audio", "video", "present"}``).

fairseq's generator reads the batch size, source length, device and dtype from
``net_input["src_tokens"]`` (or a tensor ``source``). Upstream AV-HuBERT copies the whole
generator to special-case its dict source. Here the stock generator runs on a proxy
``net_input`` (a zero-cost expanded ``src_tokens`` of shape ``B x T`` plus ``src_lengths``
from the padding mask), and the ensemble hands the real ``net_input`` to the encoders.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
from fairseq.sequence_generator import EnsembleModel, SequenceGenerator

_REAL_INPUT = "_av_net_input"


class AVEnsembleModel(EnsembleModel):
    """EnsembleModel whose encoders receive the real audio-visual ``net_input``."""

    def forward_encoder(self, net_input: Dict[str, torch.Tensor]):
        return super().forward_encoder(net_input.get(_REAL_INPUT, net_input))


def proxy_net_input(net_input: Dict) -> Dict:
    """A ``net_input`` that fairseq's generator understands, wrapping the real one."""
    if "src_tokens" in net_input:
        return net_input
    padding_mask: Optional[torch.Tensor] = net_input.get("padding_mask")
    source = net_input["source"]
    if padding_mask is not None:
        bsz, length = padding_mask.shape
        device = padding_mask.device
        lengths = (~padding_mask).long().sum(-1)
    else:
        ref = source["audio"] if source.get("audio") is not None else source["video"]
        bsz, length, device = ref.shape[0], ref.shape[2], ref.device  # audio B,F,T / video B,C,T,H,W
        lengths = torch.full((bsz,), length, dtype=torch.long, device=device)
    src_tokens = torch.zeros(1, 1, dtype=torch.long, device=device).expand(bsz, length)
    return {"src_tokens": src_tokens, "src_lengths": lengths, _REAL_INPUT: net_input}


class AVSequenceGenerator(SequenceGenerator):
    """Beam search / greedy decoding of ``av_hubert_seq2seq`` models on audio-visual batches.

    ``max_len = max_len_a * T + max_len_b`` with ``T`` the number of 25 Hz frames.
    """

    def __init__(self, models, tgt_dict, **kwargs) -> None:
        if not isinstance(models, EnsembleModel):
            models = AVEnsembleModel(models)
        super().__init__(models, tgt_dict, **kwargs)

    def _generate(self, sample: Dict, *args, **kwargs):
        sample = dict(sample)
        sample["net_input"] = proxy_net_input(sample["net_input"])
        return super()._generate(sample, *args, **kwargs)
