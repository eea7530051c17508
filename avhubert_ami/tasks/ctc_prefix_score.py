"""CTC prefix scores for a beam of hypotheses, vectorised over hypotheses, candidates and frames.

The prefix probability of a label sequence ``h`` is the probability that the CTC output starts with
``h`` (Graves 2008; ESPnet's ``CTCPrefixScoreTH``, auto_avsr). For each hypothesis ``g`` we keep the
forward variables ``r_t^n(g)`` (``g`` emitted by frame ``t``, last frame a label) and ``r_t^b(g)`` (last
frame blank). Extending ``g`` by ``c`` (``phi_t = r_t^n(g) + r_t^b(g)``, only ``r_t^b(g)`` when ``c`` repeats
the last label; in the probability domain)::

    r_t^n(h) = (r_{t-1}^n(h) + phi_{t-1}) * y_t^c        r_t^b(h) = (r_{t-1}^n(h) + r_{t-1}^b(h)) * y_t^blank
    psi(h)   = sum_t phi_{t-1} * y_t^c  (+ y_0^c when g is empty)

ESPnet runs the time recursion as a Python loop over frames. Both recursions are first-order linear,
so here they are solved in closed form with cumulative sums and ``logcumsumexp`` (one set of tensor
operations per output step, no loop over frames): with ``C_t = sum_{u<=t} log y_u^c`` and
``a_s = log phi_{s-1}`` (``a_0`` = 0 for an empty prefix, else -inf),
``log r_t^n(h) = C_t + logcumsumexp_s(a_s - C_{s-1})``, and likewise for ``r^b`` with the blank's cumulative
sum. The subtraction of large cumulative sums is done in float64 (exact to ~1e-8 over thousands of frames).

End of sentence scores the whole sequence: ``log p_ctc(g) = log(r_{T-1}^n(g) + r_{T-1}^b(g))`` at each
utterance's own last frame, so a hypothesis ends when CTC says the audio/video is used up.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

NEG_INF = float("-inf")
#: log-probabilities are clamped to this before the cumulative sums (a -inf would turn them into NaN).
MIN_LOG_PROB = -1e5


def _shift(x: Tensor, fill: float) -> Tensor:
    """``x`` delayed by one frame along dim 0 (``out[0] = fill``, ``out[t] = x[t-1]``)."""
    return torch.cat([x.new_full((1,) + x.shape[1:], fill), x[:-1]], dim=0)


class CTCPrefixScorer:
    """Prefix scores of all hypotheses of a beam search for a set of candidate tokens.

    ``log_probs``: T x B x V CTC log-probabilities per sentence; ``lengths``: B valid frames. Rows
    (hypotheses) map to sentences through ``row_sentence`` (N). Usage per output step: :meth:`advance`
    with the token each row appended (not at the first step), :meth:`score` for each row's candidates,
    and :meth:`reorder` when the search keeps, duplicates or drops rows.
    """

    def __init__(self, log_probs: Tensor, lengths: Tensor, row_sentence: Tensor, blank: int) -> None:
        self.blank = blank
        self.x = log_probs.detach().double().clamp_min(MIN_LOG_PROB)  # T x B x V
        self.T = self.x.size(0)
        self.lengths = lengths.to(self.x.device).long().clamp(1, self.T)
        self.blank_cum = self.x[:, :, blank].cumsum(0)  # T x B
        self.rows = row_sentence.to(self.x.device).long()
        n = self.rows.numel()
        # empty prefix: no label emitted, all frames so far blank
        self.r = torch.stack([self.x.new_full((self.T, n), NEG_INF), self.blank_cum[:, self.rows]], 1)  # T x 2 x N
        self.psi = self.x.new_zeros(n)
        self.last = torch.full((n,), -1, dtype=torch.long, device=self.x.device)
        self.empty = torch.ones(n, dtype=torch.bool, device=self.x.device)
        self._pending: Optional[Tuple[Tensor, Tensor, Tensor]] = None  # candidates, r, psi for each candidate

    def frame_mask(self) -> Tensor:
        """T x N: True on each row's valid frames."""
        t = torch.arange(self.T, device=self.x.device).unsqueeze(1)
        return t < self.lengths[self.rows].unsqueeze(0)

    def score(self, candidates: Tensor) -> Tuple[Tensor, Tensor]:
        """Score extensions of every row by ``candidates`` (N x K token ids, never the blank).

        Returns ``(delta, eos_delta)``: N x K ``log psi(g+c) - log psi(g)`` and N ``log p_ctc(g) - log psi(g)``
        (float64; -inf where impossible). Summed over the steps of a hypothesis they give its prefix
        (or, ending with eos, full-sequence) CTC log-probability.
        """
        rows = self.rows
        xc = self.x[:, rows.unsqueeze(1), candidates]  # T x N x K
        r_n, r_b = self.r[:, 0], self.r[:, 1]  # T x N
        phi = torch.logaddexp(r_n, r_b).unsqueeze(2).expand_as(xc)
        repeat = (candidates == self.last.unsqueeze(1)).unsqueeze(0)  # a repeated label needs a blank between
        phi = torch.where(repeat, r_b.unsqueeze(2).expand_as(xc), phi)
        start = torch.where(self.empty, 0.0, NEG_INF).to(xc).view(1, -1, 1).expand(1, *xc.shape[1:])
        a = torch.cat([start, phi[:-1]], dim=0)  # a_t: probability mass entering label c at frame t
        cum = xc.cumsum(0)
        new_n = cum + torch.logcumsumexp(a - _shift(cum, 0.0), dim=0)
        bcum = self.blank_cum[:, rows].unsqueeze(2)  # T x N x 1
        b = torch.cat([xc.new_full((1,) + xc.shape[1:], NEG_INF), new_n[:-1] - bcum[:-1]], dim=0)
        new_b = bcum + torch.logcumsumexp(b, dim=0)
        valid = self.frame_mask().unsqueeze(2)
        new_psi = torch.logsumexp((a + xc).masked_fill(~valid, NEG_INF), dim=0)  # N x K
        self._pending = (candidates, torch.stack([new_n, new_b], 1), new_psi)
        end = (self.lengths[rows] - 1).view(1, 1, -1).expand(1, 2, -1)
        full = torch.logsumexp(self.r.gather(0, end).squeeze(0), dim=0)  # N
        return self._delta(new_psi, self.psi.unsqueeze(1)), self._delta(full, self.psi)

    @staticmethod
    def _delta(new: Tensor, old: Tensor) -> Tensor:
        return torch.where(torch.isinf(new) & (new < 0), torch.full_like(new, NEG_INF), new - old)

    def reorder(self, new_order: Tensor) -> None:
        """Rows now continue ``new_order`` (indices of the previous rows)."""
        new_order = new_order.to(self.x.device)
        self.rows = self.rows[new_order]
        self.r, self.psi = self.r[:, :, new_order], self.psi[new_order]
        self.last, self.empty = self.last[new_order], self.empty[new_order]
        if self._pending is not None:
            cands, r, psi = self._pending
            self._pending = (cands[new_order], r[:, :, new_order], psi[new_order])

    def advance(self, tokens: Tensor) -> None:
        """Each row appended ``tokens[row]`` (one of the candidates last scored for that row)."""
        if self._pending is None:
            raise RuntimeError("CTCPrefixScorer.advance before score")
        cands, r, psi = self._pending
        tokens = tokens.to(cands.device)
        hit = cands == tokens.unsqueeze(1)  # N x K
        slot = hit.long().argmax(1)
        found = hit.any(1)
        idx = slot.view(1, 1, -1, 1).expand(r.size(0), 2, -1, 1)
        self.r = r.gather(3, idx).squeeze(3)
        self.psi = psi.gather(1, slot.unsqueeze(1)).squeeze(1)
        # a token the scorer never saw (outside the pre-beam) has no CTC support
        self.r = self.r.masked_fill(~found.view(1, 1, -1), NEG_INF)
        self.psi = self.psi.masked_fill(~found, NEG_INF)
        self.last, self.empty = tokens.long(), torch.zeros_like(self.empty)
        self._pending = None
