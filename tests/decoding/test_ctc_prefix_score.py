"""CTC prefix scores against a brute-force sum over all alignments (tiny vocabularies and lengths)."""

import itertools
import math

import pytest
import torch

from avhubert_ami.decoding.ctc_prefix_score import CTCPrefixScorer

BLANK = 0


def collapse(path):
    """CTC collapse: merge repeats, drop blanks."""
    out, prev = [], None
    for s in path:
        if s != prev and s != BLANK:
            out.append(s)
        prev = s
    return tuple(out)


def brute_force(log_probs: torch.Tensor, length: int):
    """{labelling: log p} summed over every alignment of ``length`` frames (V ** length paths)."""
    probs = log_probs[:length].double().exp()
    totals = {}
    for path in itertools.product(range(probs.size(1)), repeat=length):
        p = math.prod(probs[t, s].item() for t, s in enumerate(path))
        key = collapse(path)
        totals[key] = totals.get(key, 0.0) + p
    return totals


def prefix_prob(totals, prefix):
    return sum(p for lab, p in totals.items() if lab[: len(prefix)] == prefix)


def log(p):
    return math.log(p) if p > 0 else float("-inf")


@pytest.mark.parametrize("vocab,frames,lengths", [(3, 5, [5]), (4, 4, [4, 3]), (3, 6, [6, 2, 4])])
def test_prefix_and_full_scores_equal_brute_force(vocab, frames, lengths):
    torch.manual_seed(vocab * 10 + frames)
    bsz = len(lengths)
    lp = torch.randn(frames, bsz, vocab, dtype=torch.float64).mul(2).log_softmax(-1)
    labels = list(range(1, vocab))
    for b, length in enumerate(lengths):
        totals = brute_force(lp[:, b], length)
        # every sequence of up to 3 labels, hypotheses as rows (one sentence, all rows at once)
        for depth in range(3):
            prefixes = list(itertools.product(labels, repeat=depth))
            scorer = CTCPrefixScorer(lp, torch.tensor(lengths), torch.full((len(prefixes),), b), BLANK)
            cands = torch.tensor(labels).repeat(len(prefixes), 1)
            got_prefix = torch.zeros(len(prefixes), dtype=torch.float64)
            for step in range(depth):
                delta, _ = scorer.score(cands)
                tok = torch.tensor([p[step] for p in prefixes])
                got_prefix += delta.gather(1, (tok - 1).unsqueeze(1)).squeeze(1)
                scorer.advance(tok)
            delta, eos = scorer.score(cands)
            for i, g in enumerate(prefixes):
                assert got_prefix[i].item() == pytest.approx(log(prefix_prob(totals, g)), abs=1e-9)
                assert (got_prefix[i] + eos[i]).item() == pytest.approx(log(totals.get(g, 0.0)), abs=1e-9)
                for j, c in enumerate(labels):
                    want = log(prefix_prob(totals, g + (c,)))
                    got = (got_prefix[i] + delta[i, j]).item()
                    assert got == pytest.approx(want, abs=1e-9) or (want == got == float("-inf"))


def test_reorder_follows_the_beam():
    """Rows duplicated / dropped by the search keep their own prefix state."""
    torch.manual_seed(0)
    lp = torch.randn(6, 2, 4).log_softmax(-1)
    scorer = CTCPrefixScorer(lp, torch.tensor([6, 5]), torch.tensor([0, 0, 1, 1]), BLANK)
    cands = torch.tensor([[1, 2, 3]] * 4)
    scorer.score(cands)
    scorer.reorder(torch.tensor([1, 1, 3, 2]))
    scorer.advance(torch.tensor([1, 2, 3, 3]))
    _, eos = scorer.score(cands)
    ref = CTCPrefixScorer(lp, torch.tensor([6, 5]), torch.tensor([0, 0, 1, 1]), BLANK)
    ref.score(cands)
    ref.advance(torch.tensor([1, 2, 3, 3]))
    _, eos_ref = ref.score(cands)
    torch.testing.assert_close(eos + scorer.psi, eos_ref + ref.psi)


def test_long_utterance_is_finite_and_exact_enough():
    """Thousands of frames: the closed-form recursion stays finite and equals the frame-by-frame one."""
    torch.manual_seed(1)
    frames, vocab = 1500, 6
    lp = torch.randn(frames, 1, vocab).mul(4).log_softmax(-1).double()
    scorer = CTCPrefixScorer(lp, torch.tensor([frames]), torch.zeros(1, dtype=torch.long), BLANK)
    total = 0.0
    for tok in (3, 3, 5):
        delta, _ = scorer.score(torch.tensor([[1, 2, 3, 4, 5]]))
        total += delta[0, tok - 1].item()
        scorer.advance(torch.tensor([tok]))
    # reference: the textbook per-frame recursion over the label sequence with blanks
    lab = [3, 3, 5]
    ext = [BLANK]
    for c in lab:
        ext += [c, BLANK]
    alpha = torch.full((len(ext),), float("-inf"), dtype=torch.float64)
    alpha[0], alpha[1] = lp[0, 0, BLANK], lp[0, 0, ext[1]]
    for t in range(1, frames):
        prev = alpha.clone()
        for s in range(len(ext)):
            terms = [prev[s]] + ([prev[s - 1]] if s >= 1 else [])
            if s >= 2 and ext[s] != BLANK and ext[s] != ext[s - 2]:
                terms.append(prev[s - 2])
            alpha[s] = torch.logsumexp(torch.stack(terms), 0) + lp[t, 0, ext[s]]
    full = torch.logaddexp(alpha[-1], alpha[-2]).item()
    _, eos = scorer.score(torch.tensor([[1, 2]]))
    assert math.isfinite(total)
    assert total + eos[0].item() == pytest.approx(full, abs=1e-6)
