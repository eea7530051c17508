"""Helpers shared by the tests (plain functions and constants; pytest fixtures live in ``tests/conftest.py``).

One module per subject: :mod:`tests.support.training` (tiny data, the tiny model trained once per session, guide
arguments), :mod:`tests.support.decoding` (fairseq-generate / avhubert-decode arguments, CTC-head variants of a
checkpoint), :mod:`tests.support.lm` (the tiny LM), :mod:`tests.support.preparation` (generated HF datasets and
media), :mod:`tests.support.models` (upstream layouts and the parity inputs), :mod:`tests.support.processes`
(child processes; functions that worker processes import by this path), :mod:`tests.support.files` and
:mod:`tests.support.packaging`. Test modules import from here, never from each other.

This module stays import-light: worker processes of the preparation tests import :mod:`tests.support.processes`
and must not pull in torch or fairseq through it.
"""

from pathlib import Path

#: The repository's root (the checkout the tests run from).
REPO = Path(__file__).resolve().parents[2]

#: Test data committed beside the tests (model outputs of upstream's code, reference crops).
ASSETS = REPO / "tests" / "assets"
