"""``python -m avhubert_ami.transcribe`` = ``avhubert-transcribe``."""

import sys

from avhubert_ami.transcribe.cli import main

sys.exit(main())
