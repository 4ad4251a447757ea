"""Fixtures the extractor tests share (the session's sandbox and config: tests/conftest.py)."""

from pathlib import Path

import pytest

from extractors.amazon import AmazonExtractor
from tests.extractors.amazon_helpers import make_extractor


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory (inbox, lake, quarantine) under the test's tmp_path."""
    return tmp_path / "data"


@pytest.fixture
def na(config, sandbox, sandbox_env) -> AmazonExtractor:
    """The amazon_na extractor against the session's sandbox."""
    return make_extractor(config, sandbox)
