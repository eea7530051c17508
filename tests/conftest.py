"""Fixtures shared by every test file (pytest finds them here; no import needed).

One import style for helpers: ``from tests.<name>_fixtures import ...`` for test-only ones, ``from
avhubert_ami.testing.<name> import ...`` for the generators the benchmarks share (the repository root is on
``sys.path`` through setup.cfg's ``pythonpath = .``). Fixtures defined in a helper module are registered
here too, so a test may use them without the import-for-side-effect ``# noqa: F401 (fixture)``; the
files that still import them keep working (a module's own name takes precedence, and it is the same function).
"""

from tests.train_fixtures import single_thread  # noqa: F401 (fixture)
