"""Train the sentencepiece model and fairseq dictionary of a manifest folder.

    avhubert-tokenizer --manifest_dir DIR [--vocab_size N] [--model_type unigram]

Reads ``DIR/train.wrd`` and writes ``DIR/spm.model`` (+ ``spm.vocab``) and ``DIR/dict.wrd.txt``
(fairseq format: every piece except ``<s> <pad> </s> <unk>`` -- fairseq adds those itself -- with
its count over the encoded training transcripts). The ``.wrd`` files stay raw text: the task
encodes them with ``tokenizer_bpe_model=DIR/spm.model`` at load time. The vocabulary is capped to
what the text supports; training is deterministic (one thread, fixed seed, no sampling).
A thin wrapper of :func:`avhubert_ami.prep.tokenizer.train_tokenizer`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from avhubert_ami.cli.boundary import command_parser, configure_logging, run_main
from avhubert_ami.prep.flags import add_wait_arg
from avhubert_ami.prep.tokenizer import MODEL_TYPES, train_tokenizer

PROG = "avhubert-tokenizer"


def build_parser() -> argparse.ArgumentParser:
    """The flags of ``avhubert-tokenizer``."""
    p = command_parser(PROG, __doc__)
    p.add_argument("--manifest_dir", required=True, help="folder holding train.wrd (output of a preprocess CLI)")
    p.add_argument("--vocab_size", type=int, default=1000, help="upper bound; capped to what the text supports")
    p.add_argument("--model_type", default="unigram", choices=list(MODEL_TYPES), help="sentencepiece model type")
    add_wait_arg(p)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Console entry point (``avhubert-tokenizer``)."""
    args = build_parser().parse_args(argv)
    configure_logging(quiet=True)

    def work() -> int:
        size, changed = train_tokenizer(args.manifest_dir, args.vocab_size, args.model_type, wait=args.wait)
        what = "wrote" if changed else "unchanged:"
        print(f"{what} {os.path.join(args.manifest_dir, 'spm.model')} (vocab {size}) and dict.wrd.txt")
        return 0

    return run_main(PROG, work)


if __name__ == "__main__":
    sys.exit(main())
