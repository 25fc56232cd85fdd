"""Fixtures for the payer_portal tests: the sample mock portals, the robot's credentials in the
environment, and a test copy of the configuration that does not depend on the day."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mock_portals import MockPortals
from payer_portal.portal_helpers import robot_env, set_retry


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, portals: MockPortals) -> MockPortals:
    """The sample portals, with the robot's URLs and credentials in the environment."""
    robot_env(monkeypatch, portals.url)
    return portals


@pytest.fixture(autouse=True)
def _test_config(config_dir: Path) -> None:
    """Tests must not depend on the day they run: no maintenance windows unless a test adds
    one; quick in-process retries; the rest of the shipped configuration as it is."""
    for path in (config_dir / "payers").glob("*.toml"):
        path.write_text(re.sub(r"(?ms)^\[\[maintenance\]\]\n.*?(?=^\[)", "", path.read_text()))
    set_retry(config_dir, attempts=3)
