"""Fixtures shared by every test folder (pytest finds them here; no import needed).

Tests live in ``tests/<area>/test_<behaviour>.py``; a fixture used by one area alone may live in that area's
``conftest.py``. Plain helpers shared by tests are in :mod:`tests.support` (``from tests.support.<subject> import
...``), the generators the benchmarks share in :mod:`avhubert_ami.testing`; no test module imports another (the
repository root is on ``sys.path`` through setup.cfg's ``pythonpath = .``).
"""

import pytest


@pytest.fixture
def single_thread():
    """One intra-op thread for one test: the in-process counterpart of :func:`tests.support.processes.quiet_env`."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def cli_error(capsys):
    """Run a command line's ``main(argv)`` that must fail with one error line: returns ``(exit status, line)``.

    The contract of :mod:`avhubert_ami.cli.boundary`: exactly one ``PROG: error: ...`` line on stderr, no traceback,
    exit status 2 for a user error and 1 for a failure of the work."""

    def run(main, argv):
        capsys.readouterr()
        rc = main(list(argv))
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if ": error: " in line]
        assert "Traceback" not in err, err
        assert len(lines) == 1, err
        assert rc in (1, 2), (rc, err)
        return rc, lines[0]

    return run


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nothing can be written into: a read-only tmpfs mounted there as root (root ignores permission bits),
    else a folder of mode 0555; skipped where root cannot mount."""
    import os
    import subprocess

    path = tmp_path / "read_only"
    path.mkdir()
    mounted = False
    if os.geteuid() == 0:
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True
            ).returncode
            == 0
        )
        if not mounted:
            pytest.skip("root without mount: no read-only folder to test with")
    else:
        path.chmod(0o555)
    yield path
    if mounted:
        subprocess.run(["umount", str(path)], check=False, capture_output=True)
    else:
        path.chmod(0o755)
