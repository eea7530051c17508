"""Pretraining-only parts of ``av_hubert``: span masking, target alignment and label logits.

These reproduce upstream ``AVHubertModel.apply_input_mask``/``apply_feature_mask``/
``forward_targets``/``compute_logits``. Span sampling follows upstream's own ``compute_mask_indices``
(``avhubert/utils.py``) draw for draw on numpy's global RNG, so with the same numpy/torch seeds the
masked frames - and hence the pretraining logits - equal upstream's. Fine-tuning never calls these
unless masking is asked for.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch


def compute_mask_indices(
    shape: Tuple[int, int],
    padding_mask: Optional[torch.Tensor],
    mask_prob: float,
    mask_length: int,
    mask_type: str = "static",
    mask_other: float = 0.0,
    min_masks: int = 0,
    no_overlap: bool = False,
    min_space: int = 0,
) -> np.ndarray:
    """Random span mask ``B x T`` (bool), drawn exactly as upstream ``avhubert/utils.py`` draws it.

    Same algorithm and the same sequence of draws from numpy's global RNG (so a seeded run masks the
    same frames as upstream), including upstream's rule that every row keeps the same number of
    masked frames (the smallest row count; the others drop randomly chosen ones). fairseq's newer
    ``compute_mask_indices`` differs: a fresh unseeded generator per row, and ``uniform``/``no_overlap``
    selections fail with current numpy.
    """
    bsz, all_sz = shape
    mask = np.full((bsz, all_sz), False)
    all_num_mask = max(min_masks, int(mask_prob * all_sz / float(mask_length) + np.random.rand()))
    mask_idcs = []
    for i in range(bsz):
        if padding_mask is not None:
            sz = all_sz - int(padding_mask[i].long().sum().item())
            num_mask = max(min_masks, int(mask_prob * sz / float(mask_length) + np.random.rand()))
        else:
            sz, num_mask = all_sz, all_num_mask
        if num_mask == 0:  # upstream fails here (lengths[0] of an empty array); we mask nothing
            mask_idcs.append(np.zeros(0, dtype=np.int64))
            continue
        lengths = _span_lengths(mask_type, num_mask, mask_length, mask_other)
        if sum(lengths) == 0:
            lengths[0] = min(mask_length, sz - 1)
        if no_overlap:
            mask_idc = _non_overlapping_starts(sz, lengths, min_space)
        else:
            min_len = min(lengths)
            if sz - min_len <= num_mask:
                min_len = sz - num_mask - 1
            starts = np.random.choice(sz - min_len, num_mask, replace=False)
            mask_idc = np.asarray([starts[j] + off for j in range(len(starts)) for off in range(lengths[j])])
        mask_idcs.append(np.unique(mask_idc[mask_idc < sz]).astype(np.int64))
    min_len = min(len(m) for m in mask_idcs)
    for i, mask_idc in enumerate(mask_idcs):
        if len(mask_idc) > min_len:
            mask_idc = np.random.choice(mask_idc, min_len, replace=False)
        mask[i, mask_idc] = True
    return mask


def _span_lengths(mask_type: str, num_mask: int, mask_length: int, mask_other: float):
    if mask_type == "static":
        return np.full(num_mask, mask_length)
    if mask_type == "uniform":
        return np.random.randint(mask_other, mask_length * 2 + 1, size=num_mask)
    if mask_type == "normal":
        return [max(1, int(round(x))) for x in np.random.normal(mask_length, mask_other, size=num_mask)]
    if mask_type == "poisson":
        return [int(round(x)) for x in np.random.poisson(mask_length, size=num_mask)]
    raise ValueError(f"mask_selection must be static, uniform, normal or poisson, got {mask_type!r}")


def _non_overlapping_starts(sz: int, lengths, min_space: int) -> np.ndarray:
    """Upstream's recursive placement of non-overlapping spans (``no_mask_overlap``)."""
    mask_idc: List[int] = []

    def arrange(s, e, length, keep_length):
        span_start = np.random.randint(s, e - length)
        mask_idc.extend(span_start + i for i in range(length))
        new_parts = []
        if span_start - s - min_space >= keep_length:
            new_parts.append((s, span_start - min_space + 1))
        if e - span_start - keep_length - min_space > keep_length:
            new_parts.append((span_start + length + min_space, e))
        return new_parts

    parts = [(0, sz)]
    min_length = min(lengths)
    for length in sorted(lengths, reverse=True):
        lens = np.fromiter((e - s if e - s >= length + min_space else 0 for s, e in parts), np.int64)
        if np.sum(lens) == 0:
            break
        c = np.random.choice(len(parts), p=lens / np.sum(lens))
        s, e = parts.pop(c)
        parts.extend(arrange(s, e, length, min_length))
    return np.asarray(mask_idc, dtype=np.int64)


def _span_mask(model, shape: Tuple[int, int], padding_mask, prob: float, length: int, device) -> torch.Tensor:
    cfg = model.cfg
    mask = compute_mask_indices(
        shape,
        padding_mask,
        prob,
        length,
        cfg.mask_selection,
        cfg.mask_other,
        min_masks=2,
        no_overlap=cfg.no_mask_overlap,
        min_space=cfg.mask_min_space,
    )
    return torch.from_numpy(mask).to(device)


def same_seq_source_index(mask: torch.Tensor) -> torch.Tensor:
    """For every frame, the frame that replaces it under ``same_seq`` selection (identity if unmasked).

    Each masked run ``[s, e)`` of length ``L`` (row by row, left to right) is filled from a run of the
    same sequence starting at a position drawn uniformly (numpy's global RNG, as upstream) outside
    ``[max(0, s-L), e)``, clipped at the end.
    """
    batch, time = mask.shape
    src = torch.arange(time).repeat(batch, 1)
    rows = mask.cpu().numpy()
    for b in range(batch):
        edges = np.diff(np.concatenate([[0], rows[b].astype(np.int8), [0]]))
        for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            length = end - start
            candidates = np.setdiff1d(np.arange(time), np.arange(max(0, start - length), end))
            other = int(np.random.choice(candidates, size=1)[0]) if len(candidates) > 0 else 0
            src[b, start:end] = torch.arange(other, other + length).clamp(max=time - 1)
    return src.to(mask.device)


def apply_input_mask(model, x: Optional[torch.Tensor], padding_mask: Optional[torch.Tensor]):
    """Mask spans of the raw input: audio frames -> ``mask_emb``; video frames -> frames of another
    sequence (``same_other_seq``) or of the same one (``same_seq``); zeros when the batch has one row."""
    if x is None:
        return None, None
    batch, time = x.shape[0], x.shape[2]
    is_audio = x.dim() == 3
    prob, length = (
        (model.mask_prob_audio, model.mask_length_audio)
        if is_audio
        else (model.mask_prob_image, model.mask_length_image)
    )
    if prob <= 0:
        return x, None
    mask = _span_mask(model, (batch, time), padding_mask, prob, length, x.device)
    xt = x.transpose(1, 2)  # B x T x C (x H x W)
    m = mask.view(batch, time, *([1] * (xt.dim() - 2)))
    if batch == 1:
        out = xt.masked_fill(m, 0)
    elif is_audio:
        out = torch.where(m, model.mask_emb.to(xt.dtype), xt)
    elif model.selection_type == "same_other_seq":
        perm = (torch.arange(batch) + torch.randint(low=1, high=batch, size=(1,))) % batch
        out = torch.where(m, xt[perm.to(x.device)], xt)
    elif model.selection_type == "same_seq":
        src = same_seq_source_index(mask)
        out = torch.gather(xt, 1, src.view(batch, time, *([1] * (xt.dim() - 2))).expand_as(xt))
    else:
        raise ValueError(f"selection_type must be 'same_other_seq' or 'same_seq', got {model.selection_type!r}")
    return out.transpose(1, 2).contiguous(), mask


def apply_feature_mask(model, x: torch.Tensor, padding_mask: Optional[torch.Tensor]):
    """Feature-level masking (``masking_type='feature'``): spans -> ``mask_emb``, channels -> 0."""
    batch, time, channels = x.shape
    if model.mask_prob_audio != model.mask_prob_image or model.mask_length_audio != model.mask_length_image:
        raise ValueError("feature masking needs mask_prob/mask_length equal for audio and image")
    mask = None
    if model.mask_prob_audio > 0:
        mask = _span_mask(model, (batch, time), padding_mask, model.mask_prob_audio, model.mask_length_image, x.device)
        x = torch.where(mask.unsqueeze(-1), model.mask_emb.to(x.dtype), x)
    cfg = model.cfg
    if cfg.mask_channel_prob > 0:
        ch = compute_mask_indices(
            (batch, channels),
            None,
            cfg.mask_channel_prob,
            cfg.mask_channel_length,
            cfg.mask_channel_selection,
            cfg.mask_channel_other,
            no_overlap=cfg.no_mask_channel_overlap,
            min_space=cfg.mask_channel_min_space,
        )
        x = x.masked_fill(torch.from_numpy(ch).to(x.device).unsqueeze(1), 0)
    return x, mask


def forward_targets(model, features: torch.Tensor, mask_indices, target_list: List[torch.Tensor]):
    """Trim features so frame-level labels exist and pick the labels aligned with each frame."""
    feat_tsz = features.size(2)
    targ_tsz = min(t.size(1) for t in target_list)
    if model.feat2tar_ratio * feat_tsz > targ_tsz:
        feat_tsz = int(targ_tsz / model.feat2tar_ratio)
        features = features[..., :feat_tsz]
        if mask_indices is not None:
            mask_indices = mask_indices[..., :feat_tsz]
    target_inds = (torch.arange(feat_tsz).float() * model.feat2tar_ratio).long()
    return features, mask_indices, [t[:, target_inds] for t in target_list]


def compute_logits(model, feats: torch.Tensor, emb_mat: torch.Tensor) -> torch.Tensor:
    """Cosine (or dot) similarity between projected frames and label embeddings, over logit_temp."""
    if model.sim_type == "dot":
        logits = torch.matmul(feats, emb_mat.transpose(0, 1))
    elif model.sim_type == "cosine":
        b, t, d = feats.size()
        f = feats.reshape(-1, d)
        nom = f @ emb_mat.transpose(0, 1)
        denom = f.pow(2).sum(-1).sqrt().unsqueeze(1) * emb_mat.pow(2).sum(-1).sqrt().unsqueeze(0)
        logits = (nom / denom.clamp(min=1e-6)).view(b, t, -1)
    else:
        raise ValueError(f"sim_type must be 'cosine' or 'dot', got {model.sim_type!r}")
    return logits / model.logit_temp


def label_logits(model, x, padding_mask, mask_indices, target_list) -> Dict[str, object]:
    """Masked/unmasked logits and targets for the HuBERT loss (upstream's result dict)."""
    if model.num_classes is None or model.final_proj is None:
        raise RuntimeError("this av_hubert model has no label embeddings / final_proj (built for fine-tuning)")
    if target_list is None:
        raise ValueError("pretraining forward needs target_list (or features_only=True)")
    label_embs = model.label_embs_concat.split(model.num_classes, 0)
    proj_x = model.final_proj(x)
    if model.untie_final_proj:
        proj_list = proj_x.chunk(len(model.num_classes), dim=-1)
    else:
        proj_list = [proj_x for _ in model.num_classes]
    logit_list = [compute_logits(model, p, e).view(-1, n) for p, e, n in zip(proj_list, label_embs, model.num_classes)]
    b, t = x.shape[:2]
    pad = padding_mask if padding_mask is not None else x.new_zeros(b, t, dtype=torch.bool)
    masked = mask_indices if mask_indices is not None else torch.zeros_like(pad)
    m, u = (masked & ~pad).view(-1), (~masked & ~pad).view(-1)
    return {
        "logit_m_list": [lg[m] for lg in logit_list],
        "logit_u_list": [lg[u] for lg in logit_list],
        "target_m_list": [tg.reshape(-1)[m].long() for tg in target_list],
        "target_u_list": [tg.reshape(-1)[u].long() for tg in target_list],
        "padding_mask": padding_mask,
    }
