"""Fixtures shared by every test: an isolated home and config, a real SQLite store,
and the browser launch arguments for pytest-playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bots.core.browser import launch_kwargs
from bots.core.logging import configure_logging
from bots.core.settings import Settings
from bots.core.store import Store

REPO = Path(__file__).resolve().parents[1]

# The canaries live in tests/canaries.py (import them from there); re-exported for convenience.
from canaries import CANARY_DOB, CANARY_MEMBER, CANARY_NAME, CANARY_PASSWORD, log_text  # noqa: E402,F401

@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the repo's config/ that a test may change."""
    dest = tmp_path / "config"
    shutil.copytree(REPO / "config", dest)
    return dest


@pytest.fixture
def settings(tmp_path: Path, config_dir: Path) -> Settings:
    s = Settings(home=tmp_path / "var", config_dir=config_dir, _env_file=None)
    s.ensure_dirs()
    configure_logging(s.logs_dir, "DEBUG", console=False)
    return s


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    st = Store(settings.db_url)
    yield st
    st.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches the same browser the bots find (system Chromium here)."""
    return {**browser_type_launch_args, **launch_kwargs()}
