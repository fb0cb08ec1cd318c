from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """Real tool outputs and rank tables (copied from shared/reference/samples)."""
    return DATA
