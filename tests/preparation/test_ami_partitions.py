"""AMI's partition has one home, lhotse's AMI recipe (issue 15 §4): its table must stay the one this recipe
shipped before it took lhotse's, and the recipe's start-up must not import lhotse for it."""

import hashlib
import os
import subprocess
import sys

import pytest

from avhubert_ami.prep import ami
from tests.support import REPO

pytest.importorskip("lhotse")

# sha256 of the space-joined sorted meeting ids of each split of the table preprocess/ami.py defined until it took
# lhotse's (Kaldi's full-corpus-ASR lists: 136 train, 18 dev, 16 test meetings), with the count
SHIPPED = {
    "full-corpus-asr": {
        "train": (136, "f334d3c46c9769c4"),
        "dev": (18, "8576622a512fec11"),
        "test": (16, "18b50cba28eaf1ec"),
    }
}


def _digest(meetings):
    return hashlib.sha256(" ".join(sorted(meetings)).encode()).hexdigest()[:16]


def test_lhotse_partitions_match_the_table_the_recipe_shipped():
    """Fails if lhotse's lists diverge from ours for any partition the recipe offers."""
    assert set(ami.PARTITION_NAMES) == set(SHIPPED)
    for name in ami.PARTITION_NAMES:
        table = ami.partition_meetings(name)
        assert {split: (len(m), _digest(m)) for split, m in table.items()} == SHIPPED[name]
        assert all(meetings == sorted(meetings) for meetings in table.values())  # the order shards rely on
        train, dev, test = (set(table[s]) for s in ("train", "dev", "test"))
        assert not (train & dev or train & test or dev & test)
        assert {"ES2011a", "IB4001", "TS3004d"} <= dev and {"EN2002a", "ES2004a", "IS1009d"} <= test


def test_unknown_partition_is_a_preparation_error():
    from avhubert_ami.errors import PreparationError

    with pytest.raises(PreparationError, match="full-corpus-asr"):
        ami.partition_meetings("scenario-only")


def test_the_command_line_starts_without_lhotse():
    """``--help`` and the flag's choices need no lhotse (seconds of import): the table is read on first use."""
    code = "import sys; import avhubert_ami.cli.ami_corpus as c; c.build_parser(); print('lhotse' in sys.modules)"
    env = dict(os.environ, AVHUBERT_AMI_WITHOUT_FAIRSEQ="1")  # as in the command line's own process
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["False"]
