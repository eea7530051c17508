"""CTC prefix scores for a beam of hypotheses, vectorised over hypotheses, candidates and frames.

The prefix probability of a label sequence ``h`` is the probability that the CTC output starts with
``h`` (Graves 2008; ESPnet's ``CTCPrefixScoreTH``, auto_avsr). For each hypothesis ``g`` we keep the
forward variables ``r_t^n(g)`` (``g`` emitted by frame ``t``, last frame a label) and ``r_t^b(g)`` (last
frame blank). Extending ``g`` by ``c`` (``phi_t = r_t^n(g) + r_t^b(g)``, only ``r_t^b(g)`` when ``c`` repeats
the last label; in the probability domain)::

    r_t^n(h) = (r_{t-1}^n(h) + phi_{t-1}) * y_t^c        r_t^b(h) = (r_{t-1}^n(h) + r_{t-1}^b(h)) * y_t^blank
    psi(h)   = sum_t phi_{t-1} * y_t^c  (+ y_0^c when g is empty)

The recursion over frames runs as one loop over frames whose every iteration updates all hypotheses x
candidates at once (as ESPnet's ``CTCPrefixScoreTH``), starting at the first frame the prefix length
allows. (A closed form with ``logcumsumexp`` exists, since both recursions are first-order linear, but
torch's CPU ``logcumsumexp`` is 5-15x slower than this loop.) ``psi`` and the end-of-sentence scores
are reductions over frames, without a loop.

End of sentence scores the whole sequence: ``log p_ctc(g) = log(r_{T-1}^n(g) + r_{T-1}^b(g))`` at each
utterance's own last frame, so a hypothesis ends when CTC says the audio/video is used up.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

NEG_INF = float("-inf")


class CTCPrefixScorer:
    """Prefix scores of all hypotheses of a beam search for a set of candidate tokens.

    ``log_probs``: T x B x V CTC log-probabilities per sentence; ``lengths``: B valid frames. Rows
    (hypotheses) map to sentences through ``row_sentence`` (N). Usage per output step: :meth:`advance`
    with the token each row appended (not at the first step), :meth:`score` for each row's candidates,
    and :meth:`reorder` when the search keeps, duplicates or drops rows.
    """

    def __init__(self, log_probs: Tensor, lengths: Tensor, row_sentence: Tensor, blank: int) -> None:
        self.blank = blank
        # float32 as the model gives it (log domain: no cancellation); float64 inputs stay float64
        self.x = log_probs.detach()
        if not self.x.is_floating_point() or self.x.dtype in (torch.float16, torch.bfloat16):
            self.x = self.x.float()
        self.T = self.x.size(0)
        self.lengths = lengths.to(self.x.device).long().clamp(1, self.T)
        self.rows = row_sentence.to(self.x.device).long()
        n = self.rows.numel()
        # empty prefix: no label emitted, all frames so far blank
        blank_cum = self.x[:, :, blank].cumsum(0)  # T x B
        self.r = torch.stack([self.x.new_full((self.T, n), NEG_INF), blank_cum[:, self.rows]], 1)  # T x 2 x N
        self.psi = self.x.new_zeros(n)
        self.last = torch.full((n,), -1, dtype=torch.long, device=self.x.device)
        self.n_labels = 0  # labels in every current prefix (the beam search extends all rows in step)
        # scored extensions: candidates (M x K), their r (T x 2 x M x K) and psi (M x K), and the pending row
        # each current row continues (N; composed through reorders instead of copying the big tensors)
        self._pending: Optional[Tuple[Tensor, Tensor, Tensor]] = None
        self._parent: Optional[Tensor] = None

    def frame_mask(self) -> Tensor:
        """T x N: True on each row's valid frames."""
        t = torch.arange(self.T, device=self.x.device).unsqueeze(1)
        return t < self.lengths[self.rows].unsqueeze(0)

    def score(self, candidates: Tensor) -> Tuple[Tensor, Tensor]:
        """Score extensions of every row by ``candidates`` (N x K token ids, never the blank).

        Returns ``(delta, eos_delta)``: N x K ``log psi(g+c) - log psi(g)`` and N ``log p_ctc(g) - log psi(g)``
        (-inf where impossible). Summed over the steps of a hypothesis they give its prefix (or, ending with
        eos, full-sequence) CTC log-probability.
        """
        rows = self.rows
        xc = self.x[:, rows.unsqueeze(1), candidates]  # T x N x K
        xb = self.x[:, rows, self.blank].unsqueeze(2).expand_as(xc)
        r_n, r_b = self.r[:, 0], self.r[:, 1]  # T x N
        phi = torch.logaddexp(r_n, r_b).unsqueeze(2).expand_as(xc)
        repeat = (candidates == self.last.unsqueeze(1)).unsqueeze(0)  # a repeated label needs a blank between
        phi = torch.where(repeat, r_b.unsqueeze(2).expand_as(xc), phi)
        new = xc.new_full((self.T, 2) + xc.shape[1:], NEG_INF)  # T x 2 x N x K
        if self.n_labels == 0:
            new[0, 0] = xc[0]
        # h = g + c has n_labels + 1 labels: r(h) is -inf before frame n_labels
        # per-frame views made once (unbind): indexing tensors inside the loop costs more than the arithmetic
        rn, rb, ph = (v.unbind(0) for v in (new[:, 0], new[:, 1], phi))
        both, y = new.unbind(0), torch.stack([xc, xb], 1).unbind(0)  # label and blank emission in one add
        for t in range(max(self.n_labels, 1), self.T):
            torch.logaddexp(rn[t - 1], ph[t - 1], out=rn[t])
            torch.logaddexp(rn[t - 1], rb[t - 1], out=rb[t])
            both[t].add_(y[t])
        # psi(h): probability mass entering label c at each frame (at frame 0 only for an empty prefix)
        start = xc.new_full((1,) + xc.shape[1:], 0.0 if self.n_labels == 0 else NEG_INF)
        enter = torch.cat([start, phi[:-1]], dim=0) + xc
        new_psi = torch.logsumexp(enter.masked_fill(~self.frame_mask().unsqueeze(2), NEG_INF), dim=0)  # N x K
        self._pending, self._parent = (candidates, new, new_psi), torch.arange(len(rows), device=rows.device)
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
        self.r, self.psi, self.last = self.r[:, :, new_order], self.psi[new_order], self.last[new_order]
        if self._parent is not None:
            self._parent = self._parent[new_order]

    def advance(self, tokens: Tensor) -> None:
        """Each row appended ``tokens[row]`` (one of the candidates last scored for that row)."""
        if self._pending is None:
            raise RuntimeError("CTCPrefixScorer.advance before score")
        cands, r, psi = self._pending
        parent = self._parent
        tokens = tokens.to(cands.device).long()
        hit = cands[parent] == tokens.unsqueeze(1)  # N x K
        slot = hit.long().argmax(1)
        found = hit.any(1)
        # a token the scorer never saw (outside the pre-beam) has no CTC support
        self.r = r[:, :, parent, slot].masked_fill(~found.view(1, 1, -1), NEG_INF)
        self.psi = psi[parent, slot].masked_fill(~found, NEG_INF)
        self.last = tokens
        self.n_labels += 1
        self._pending, self._parent = None, None
