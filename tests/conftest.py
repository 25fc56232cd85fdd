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
from mock_portals import MockPortals

REPO = Path(__file__).resolve().parents[1]

# The canaries live in tests/canaries.py (import them from there); re-exported for convenience.
from alert_helpers import Receiver  # noqa: E402
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


@pytest.fixture(scope="session")
def _sample_portals() -> Iterator[MockPortals]:
    """One mock portal server for the whole session keeps browser tests fast."""
    with MockPortals() as portals:
        yield portals


@pytest.fixture
def portals(_sample_portals: MockPortals) -> MockPortals:
    """The sample portals with no faults, fresh state, no sessions and no lockouts.

    ``reset()`` keeps state, faults and lockouts from leaking between tests; a test that
    needs its own data or seed starts its own ``MockPortals``.
    """
    _sample_portals.set_faults("")
    _sample_portals.reset()
    return _sample_portals


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook that apprise's json:// alerts reach (``alert_helpers.Receiver``)."""
    r = Receiver()
    yield r
    r.close()
