"""Fixtures for the payer_portal tests: the sample mock portals, the robot's credentials in the
environment, and a test copy of the configuration that does not depend on the day."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.core.settings import Settings
from config_helpers import edit_toml
from mock_portals import MockPortals
from payer_portal.portal_helpers import robot_env, set_retry


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, portals: MockPortals) -> MockPortals:
    """The sample portals, with the robot's URLs and credentials in the environment."""
    robot_env(monkeypatch, portals.url)
    return portals


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Quick in-process retries (the shipped ones wait for minutes), set by value."""
    return set_retry(settings, attempts=3)


@pytest.fixture(autouse=True)
def _test_config(config_dir: Path) -> None:
    """Tests must not depend on the day they run: no maintenance windows unless a test adds
    one; the rest of the shipped configuration as it is."""
    for path in (config_dir / "payers").glob("*.toml"):
        edit_toml(path, lambda doc: doc.pop("maintenance", None))
