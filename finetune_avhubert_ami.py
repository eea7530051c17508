#!/usr/bin/env python3
"""Fine-tune AV-HuBERT on AMI with HF Trainer-style flags (see the users' guide and `--help`).

The flags map onto the fairseq hydra presets in conf/finetune (one table: avhubert_ami/cli/trainer_args.py);
the driver lives in avhubert_ami/cli/run.py.
"""

import sys

from avhubert_ami.cli.run import main

if __name__ == "__main__":
    sys.exit(main())
