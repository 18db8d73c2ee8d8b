"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitmachine.services.instance import initialise
from hitmachine.settings import Settings


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """An initialised SQLite instance in the default layout (hitmachine.db, keys/)."""
    home = tmp_path / "instance"
    home.mkdir()
    initialise(Settings(database_url=f"sqlite:///{home / 'hitmachine.db'}",
                        keys_dir=home / "keys"))
    return home
