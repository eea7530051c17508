"""What an utterance id says about its utterance: the one reading of the ids the recipes write.

* the raw-AMI recipe (:mod:`avhubert_ami.prep.ami_annotations`): ``{meeting}_{speaker}_{start}_{end}`` with times in
  centiseconds, 7 digits (``ES2002a_MEE006_0000050_0000170``);
* the synthetic corpus (:mod:`avhubert_ami.synth.ami`): ``SYN_{split}_{speaker}_{index}`` (``SYN_train_S03_00012``).

Ids of other corpora carry no speaker; callers treat None as "unknown".
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

AMI_ID = re.compile(r"^(?P<meeting>[A-Z]{2}\d{4}[a-z])_(?P<speaker>[A-Za-z0-9]+)_\d{7}_\d{7}$")
SYNTH_ID = re.compile(r"^SYN_[A-Za-z0-9]+_(?P<speaker>[A-Za-z0-9]+)_\d+$")


def ami_id_parts(uid: str) -> Optional[Tuple[str, str]]:
    """``(meeting, speaker)`` of an AMI utterance id, or None for ids of another form."""
    m = AMI_ID.match(uid)
    return (m["meeting"], m["speaker"]) if m else None


def utterance_speaker(uid: str) -> Optional[str]:
    """The speaker an utterance id names (AMI or synthetic ids), else None."""
    for pattern in (AMI_ID, SYNTH_ID):
        m = pattern.match(uid)
        if m:
            return m["speaker"]
    return None
