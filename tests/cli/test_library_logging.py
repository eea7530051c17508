"""A library configures no global logging: importing the plugin leaves the root logger as it found it (fairseq's own
import would set it to DEBUG, so every library's debug messages reached stderr)."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_PROBE = """
import logging
import avhubert_ami
import fairseq  # already imported by the plugin: nothing happens here
root = logging.getLogger()
debug = logging.getLogger("matplotlib").isEnabledFor(logging.DEBUG)
print("ROOT", logging.getLevelName(root.level), len(root.handlers), debug)
"""


def test_importing_the_plugin_configures_no_logging():
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("AVHUBERT_AMI_WITHOUT_FAIRSEQ", None)  # a library process: the plugin imports fairseq at once
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ROOT WARNING 0 False" in out.stdout, out.stdout
