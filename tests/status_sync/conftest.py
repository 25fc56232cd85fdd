"""Fixtures for the status_sync tests: the sample mock billing app, the robot's credentials in
the environment, and quick retries in a test copy of the configuration."""

from __future__ import annotations

import pytest

from bots.core.settings import Settings
from mock_portals import MockPortals
from status_sync.sync_helpers import billing_env, set_retry


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, portals: MockPortals) -> MockPortals:
    """The sample portals, with the robot's billing URL and credentials in the environment."""
    billing_env(monkeypatch, portals.url)
    return portals


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Quick in-process retries (the shipped ones wait for minutes), set by value."""
    return set_retry(settings, attempts=3)
