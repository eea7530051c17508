"""Joint CTC/attention beam search in the task's generator (issue 12 §2) and NaN detection (issue 16 item 11)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from fairseq.sequence_generator import EnsembleModel, SequenceGenerator

import avhubert_ami  # noqa: F401  registers models
from avhubert_ami.decoding.generator import _REAL_INPUT, AVSequenceGenerator, proxy_net_input
from avhubert_ami.models.seq2seq import AVHubertSeq2Seq, AVHubertSeq2SeqConfig
from avhubert_ami.testing.models import TINY_DECODER, TINY_ENCODER, av_batch
from tests.support.models import tiny_seq2seq

FRAMES = 12


def tiny_model(ctc_head: bool = True) -> AVHubertSeq2Seq:
    """The tiny seq2seq in eval mode, with a CTC head unless told otherwise."""
    return tiny_seq2seq(ctc_head=ctc_head).eval()


def sample(batch: int = 3):
    b = av_batch(batch=batch, frames=FRAMES, size=32, tgt_len=4)
    b["padding_mask"][0, FRAMES - 4 :] = True  # lengths 8, 12, 9
    return {
        "id": torch.arange(batch),
        "utt_id": [f"utt{i}" for i in range(batch)],
        "net_input": {"source": b["source"], "padding_mask": b["padding_mask"]},
    }


class _TodaysEnsemble(EnsembleModel):
    """The generator's ensemble before joint decoding existed: stock fairseq, real input to the encoders."""

    def forward_encoder(self, net_input):
        return super().forward_encoder(net_input.get(_REAL_INPUT, net_input))


def _today(model, tgt_dict, s, **kw):
    gen = SequenceGenerator(_TodaysEnsemble([model]), tgt_dict, **kw)
    s = dict(s, net_input=proxy_net_input(s["net_input"]))
    return gen._generate(s)


@pytest.mark.parametrize("beam", [1, 4])
def test_weight_zero_is_todays_search_bit_for_bit(beam):
    model = tiny_model()
    tgt = model.decoder.dictionary
    s = sample()
    kw = dict(beam_size=beam, max_len_a=1.0, max_len_b=3)
    ours = AVSequenceGenerator([model], tgt, ctc_weight=0.0, **kw).generate([model], s)
    ref = _today(model, tgt, s, **kw)
    for h_ours, h_ref in zip(ours, ref):
        assert len(h_ours) == len(h_ref) == beam
        for a, b in zip(h_ours, h_ref):
            assert torch.equal(a["tokens"], b["tokens"])
            assert torch.equal(a["score"], b["score"]) and torch.equal(a["positional_scores"], b["positional_scores"])


def _teacher_forced(model, s, hyp: torch.Tensor, row: int) -> float:
    """Attention log p(hyp incl. eos) of one utterance, by a plain forward pass."""
    net = s["net_input"]
    src = {k: (v[row : row + 1] if v is not None else None) for k, v in net["source"].items()}
    pad = net["padding_mask"][row : row + 1]
    enc = model.encoder(source=src, padding_mask=pad)
    prev = torch.cat([torch.tensor([model.decoder.dictionary.eos()]), hyp[:-1]]).unsqueeze(0)
    logits, _ = model.decoder(prev, encoder_out=enc)
    lp = model.get_normalized_probs((logits, None), log_probs=True)[0]
    return lp.gather(1, hyp.unsqueeze(1)).sum().item(), enc


class BigramLM(torch.nn.Module):
    """A stand-in for a fairseq LM (same call interface): log p(next | last token) from a random table."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.table = torch.nn.Embedding(vocab, vocab)

    def forward(self, tokens):
        return self.table(tokens), None

    def get_normalized_probs(self, net_output, log_probs=True, sample=None):
        return net_output[0].float().log_softmax(-1)

    def sequence_log_prob(self, eos: int, hyp: torch.Tensor) -> float:
        prev = torch.cat([torch.tensor([eos]), hyp[:-1]])
        return self.get_normalized_probs(self(prev.unsqueeze(0)))[0].gather(1, hyp.unsqueeze(1)).sum().item()


@pytest.mark.parametrize("weight,lm_weight", [(0.3, 0.0), (1.0, 0.0), (0.4, 0.5)])
def test_joint_score_is_weighted_sum_of_attention_and_full_ctc_probability(weight, lm_weight):
    """Each finished hypothesis scores (1-w) log p_att(y) + w log p_ctc(y) (+ lm_weight log p_lm(y)), p_ctc from
    torch's ctc_loss: end of sentence gets the full CTC probability, the LM is added once."""
    model = tiny_model()
    tgt = model.decoder.dictionary
    s = sample()
    lm = BigramLM(len(tgt)) if lm_weight else None
    gen = AVSequenceGenerator(
        [model],
        tgt,
        ctc_weight=weight,
        beam_size=3,
        max_len_a=0.0,
        max_len_b=5,
        normalize_scores=False,
        lm_model=lm,
        lm_weight=lm_weight,
    )
    hypos = gen.generate([model], s)
    lengths = (~s["net_input"]["padding_mask"]).sum(1)
    with torch.no_grad():
        for row, hs in enumerate(hypos):
            assert len(hs) == 3
            for h in hs:
                toks = h["tokens"]
                assert toks[-1] == tgt.eos() and (toks[:-1] > tgt.eos()).all()
                att, enc = _teacher_forced(model, s, toks, row)
                lp = model.ctc_log_probs(enc)[: lengths[row]]
                ctc = -F.ctc_loss(
                    lp,
                    toks[:-1].unsqueeze(0),
                    lengths[row : row + 1],
                    torch.tensor([len(toks) - 1]),
                    blank=tgt.bos(),
                    reduction="sum",
                ).item()
                fused = lm_weight * lm.sequence_log_prob(tgt.eos(), toks) if lm is not None else 0.0
                assert h["score"].item() == pytest.approx((1 - weight) * att + weight * ctc + fused, abs=2e-3)


def test_ctc_decides_length_and_repeats():
    """CTC-only search (w=1) on a peaked CTC output returns its labelling, repeated label included, and stops."""
    model = tiny_model()
    tgt = model.decoder.dictionary
    want = [7, 9, 9, 5]  # frames: 7 7 _ 9 _ 9 9 5 _ _ (rest padding for row 0)
    path = [7, 7, 0, 9, 0, 9, 9, 5, 0, 0, 0, 0]
    peaked = torch.full((FRAMES, len(tgt)), -12.0)
    peaked[torch.arange(FRAMES), torch.tensor(path)] = 0.0
    peaked = peaked.log_softmax(-1)
    model.ctc_log_probs = lambda enc: peaked.unsqueeze(1).expand(-1, enc["encoder_out"].size(1), -1).clone()
    s = sample()
    s["net_input"]["padding_mask"][:] = False
    gen = AVSequenceGenerator([model], tgt, ctc_weight=1.0, beam_size=4, max_len_a=1.0, max_len_b=5)
    for hs in gen.generate([model], s):
        assert hs[0]["tokens"].tolist() == want + [tgt.eos()]


def test_ctc_weight_needs_a_ctc_head():
    model = tiny_model(ctc_head=False)
    with pytest.raises(ValueError, match="CTC head"):
        AVSequenceGenerator([model], model.decoder.dictionary, ctc_weight=0.5, beam_size=2)


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_nan_model_names_the_utterances_instead_of_an_assertion(weight):
    model = tiny_model()
    with torch.no_grad():
        model.decoder.embed_tokens.weight[5].fill_(float("nan"))  # poisons hypotheses that emit token 5
        model.encoder.w2v_model.encoder.layers[0].fc1.weight.fill_(float("nan"))
    gen = AVSequenceGenerator([model], model.decoder.dictionary, ctc_weight=weight, beam_size=2, max_len_b=3)
    gen.context = "checkpoint /x/ckpt.pt"
    with pytest.raises(FloatingPointError) as e:
        gen.generate([model], sample())
    msg = str(e.value)
    assert "NaN/inf" in msg and "utt0" in msg and "utt2" in msg and "/x/ckpt.pt" in msg
    assert "dataset index 1" in msg


@pytest.fixture(scope="module")
def valid_task(tmp_path_factory):
    from fairseq import tasks
    from omegaconf import OmegaConf

    from avhubert_ami.testing.tiny_data import make_tiny_split

    d = str(tmp_path_factory.mktemp("jointdata"))
    make_tiny_split(d, n=3, split="valid", frames=(12, 16, 20))
    task = tasks.setup_task(
        OmegaConf.create(
            {
                "_name": "ami_av",
                "data": d,
                "eval_wer": True,
                "eval_wer_beam": 2,
                "eval_wer_max_len_a": 0.0,
                "eval_wer_max_len_b": 4,
            }
        )
    )
    task.load_dataset("valid")
    batch = next(iter(task.get_batch_iterator(task.dataset("valid"), max_sentences=3).next_epoch_itr(shuffle=False)))
    torch.manual_seed(0)
    cfg = AVHubertSeq2SeqConfig(**{**TINY_ENCODER, **TINY_DECODER, "ctc_head": True})
    return task, batch, AVHubertSeq2Seq.build_model(cfg, task).eval()


def test_validation_wer_uses_the_task_ctc_weight(valid_task, monkeypatch):
    task, batch, model = valid_task
    seen = []
    real = AVSequenceGenerator._generate

    def spy(self, *args, **kwargs):
        seen.append(self.ctc_weight)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AVSequenceGenerator, "_generate", spy)
    task.cfg.ctc_weight = 0.3  # (monkeypatch cannot restore a DictConfig key)
    try:
        counts = task.wer_counts(batch, model)
    finally:
        task.cfg.ctc_weight = 0.0
    assert seen == [0.3] and counts["_wer_words"] > 0


def test_nan_at_validation_says_it_is_the_validation_decode(valid_task):
    task, batch, model = valid_task
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        with torch.no_grad():
            model.decoder.embed_tokens.weight.fill_(float("nan"))
        with pytest.raises(FloatingPointError, match=r"validation decode .*valid_000"):
            task.wer_counts(batch, model)
    finally:
        model.load_state_dict(state)
