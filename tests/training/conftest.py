"""Fixtures of the training tests alone."""

import pytest

from tests.support.training import tiny_data


@pytest.fixture(scope="session")
def guide_data(tmp_path_factory):
    """Tiny train/valid/test splits for users'-guide runs, made once per session (the runs only read them)."""
    return tiny_data(tmp_path_factory.mktemp("guide_data"))
