"""Pretraining-only parts of ``av_hubert``: span masking, target alignment and label logits.

These reproduce upstream ``AVHubertModel.apply_input_mask``/``apply_feature_mask``/
``forward_targets``/``compute_logits`` without Python loops over batch or time (span sampling
uses fairseq's ``compute_mask_indices``). Fine-tuning never calls them unless masking is asked for.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from fairseq.data.data_utils import compute_mask_indices


def _span_mask(model, shape: Tuple[int, int], padding_mask, prob: float, length: int, device) -> torch.Tensor:
    mask = compute_mask_indices(
        shape, padding_mask, prob, length, model.cfg.mask_selection, model.cfg.mask_other,
        min_masks=2, no_overlap=model.cfg.no_mask_overlap, min_space=model.cfg.mask_min_space,
        require_same_masks=False, num_mask_ver=1,
    )
    return torch.from_numpy(mask).to(device)


def same_seq_source_index(mask: torch.Tensor) -> torch.Tensor:
    """For every frame, the frame that replaces it under ``same_seq`` selection (identity if unmasked).

    Each masked run ``[s, e)`` of length ``L`` is filled from a run of the same sequence starting at a
    uniformly drawn position outside ``[max(0, s-L), e)`` (clipped at the end), as upstream.
    """
    batch, time = mask.shape
    prev = torch.zeros_like(mask)
    prev[:, 1:] = mask[:, :-1]
    starts = mask & ~prev
    run_id = torch.cumsum(starts.flatten().long(), 0).view(batch, time) - 1  # valid where mask
    t_idx = torch.arange(time, device=mask.device).expand(batch, time)
    run_start = t_idx[starts]  # one entry per run, row-major order = run id order
    run_len = torch.bincount(run_id[mask], minlength=run_start.numel())
    lo = (run_start - run_len).clamp(min=0)
    hi = run_start + run_len
    allowed = time - (hi - lo)
    r = (torch.rand(run_start.shape, device=mask.device) * allowed.clamp(min=1)).long()
    other_start = torch.where(allowed > 0, torch.where(r < lo, r, r + (hi - lo)), torch.zeros_like(r))
    src = t_idx.clone()
    rid = run_id[mask]
    src[mask] = (other_start[rid] + (t_idx[mask] - run_start[rid])).clamp(max=time - 1)
    return src


def apply_input_mask(model, x: Optional[torch.Tensor], padding_mask: Optional[torch.Tensor]):
    """Mask spans of the raw input: audio frames -> ``mask_emb``; video frames -> frames of another
    sequence (``same_other_seq``) or of the same one (``same_seq``); zeros when the batch has one row."""
    if x is None:
        return None, None
    batch, time = x.shape[0], x.shape[2]
    is_audio = x.dim() == 3
    prob, length = (
        (model.mask_prob_audio, model.mask_length_audio) if is_audio else (model.mask_prob_image, model.mask_length_image)
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
            (batch, channels), None, cfg.mask_channel_prob, cfg.mask_channel_length, cfg.mask_channel_selection,
            cfg.mask_channel_other, no_overlap=cfg.no_mask_channel_overlap, min_space=cfg.mask_channel_min_space,
            require_same_masks=False, num_mask_ver=1,
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
