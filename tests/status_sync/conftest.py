"""Fixtures for the status_sync tests: the sample mock billing app, the robot's credentials in
the environment, and quick retries in a test copy of the configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_portals import MockPortals
from status_sync.sync_helpers import billing_env, set_retry


@pytest.fixture(scope="session")
def _sample_portals() -> Iterator[MockPortals]:
    with MockPortals() as portals:
        yield portals


@pytest.fixture
def portals(_sample_portals: MockPortals) -> MockPortals:
    """The sample portals: no faults, fresh state, no sessions or lockouts."""
    _sample_portals.set_faults("")
    _sample_portals.reset()
    return _sample_portals


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, portals: MockPortals) -> MockPortals:
    """The sample portals, with the robot's billing URL and credentials in the environment."""
    billing_env(monkeypatch, portals.url)
    return portals


@pytest.fixture(autouse=True)
def _quick_retries(config_dir: Path) -> None:
    set_retry(config_dir, attempts=3)
