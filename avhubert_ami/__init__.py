"""avhubert-ami: a fairseq ``--user-dir`` plugin for AV-HuBERT fine-tuning on AMI.

Importing this package registers its fairseq components (task, models, criteria, scorers),
so ``--user-dir /path/to/avhubert_ami`` (or ``common.user_dir=...``) makes them
available to ``fairseq-train``, ``fairseq-hydra-train`` and ``fairseq-generate``.
"""

__version__ = "0.1.0"

from avhubert_ami import data  # noqa: F401,E402
from avhubert_ami import tasks  # noqa: F401,E402
from avhubert_ami import models  # noqa: F401,E402
from avhubert_ami import scoring  # noqa: F401,E402
from avhubert_ami import criterions  # noqa: F401,E402
