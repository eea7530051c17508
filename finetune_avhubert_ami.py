#!/usr/bin/env python3
"""Fine-tune AV-HuBERT on AMI with HF Trainer-style flags (see the users' guide and `--help`).

The flags map onto the fairseq hydra presets in conf/finetune (one table: avhubert_ami/training/flags.py);
the command line is avhubert_ami/cli/finetune.py, the driver avhubert_ami/training/run.py.
"""

import sys

from avhubert_ami.cli.finetune import main

if __name__ == "__main__":
    sys.exit(main())
