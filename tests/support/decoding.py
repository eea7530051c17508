"""Decoding on the tiny trained model: fairseq-generate's and avhubert-decode's arguments, the README's search, and
the trained checkpoint with or without a CTC head (what a hybrid or an attention-only model holds)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from tests.support.training import USER_DIR

#: The decoding search of the README's commands as the tests run it on the tiny model, for fairseq-generate
#: (:func:`generate_args`) and ``avhubert_ami.decoding.split`` alike. Batch size 1 on both sides: the relative
#: positional convolution sees padded frames, so an untrained model's hypotheses may depend on which utterances share a
#: batch (as upstream's), not on the decoding path.
README_SEARCH = dict(beam=5, batch_size=1, max_len_a=1.0, max_len_b=10)


def _flags(options: Dict[str, object], dash: str) -> List[str]:
    return [f for name, value in options.items() for f in (f"--{name.replace('_', dash)}", str(value))]


def generate_args(data, checkpoint, *flags: str, **search) -> List[str]:
    """fairseq-generate's arguments: ``checkpoint`` on the test split of ``data`` with the plugin's task, on CPU;
    ``search`` options by their Python names (``max_len_b=10``: ``--max-len-b 10``), then ``flags``."""
    plugin = ["--user-dir", str(USER_DIR), "--task", "ami_av", "--gen-subset", "test", "--cpu"]
    return [str(data), *plugin, "--path", str(checkpoint), *_flags(search, "-"), *flags]


def decode_args(checkpoint, data, *flags: str, **options) -> List[str]:
    """``avhubert-decode`` arguments: ``checkpoint`` on ``data`` on CPU; ``options`` by their flag names
    (``max_len_b=3``: ``--max_len_b 3``), then ``flags``."""
    return ["--path", str(checkpoint), "--data", str(data), "--cpu", *_flags(options, "_"), *flags]


def with_ctc_head(checkpoint: Path, out: Path) -> Path:
    """The trained tiny checkpoint plus a (seeded, untrained) CTC head, as a hybrid model would have."""
    import torch

    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state

    state = load_checkpoint_state(str(checkpoint))
    state["cfg"]["model"]["ctc_head"] = True
    dim, vocab = state["cfg"]["model"]["encoder_embed_dim"], state["model"]["decoder.embed_tokens.weight"].shape[0]
    g = torch.Generator().manual_seed(0)
    state["model"]["ctc_proj.weight"] = torch.randn(vocab, dim, generator=g) * 0.1
    state["model"]["ctc_proj.bias"] = torch.zeros(vocab)
    torch.save(state, out)
    return out


def without_ctc_head(checkpoint: Path, out: Path) -> Path:
    """The trained tiny checkpoint as an attention-only model (no ctc_proj, model.ctc_head false)."""
    import torch

    from avhubert_ami.checkpoints.safe_load import load_checkpoint_state

    state = load_checkpoint_state(str(checkpoint))
    state["cfg"]["model"]["ctc_head"] = False
    state["model"] = {k: v for k, v in state["model"].items() if not k.startswith("ctc_proj.")}
    torch.save(state, out)
    return out
