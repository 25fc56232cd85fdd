"""Fixtures for the bots.core.browser tests: a started BrowserHost with an evidence folder, and
the robot's sign-in to the mock acme portal (the session mock-portal server is ``portals``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bots.core.browser import BrowserHost, Field, Lease, LoginFn, SiteConfig
from bots.core.errors import LoginFailed
from bots.core.evidence import EvidenceFolder

ROBOT_PASSWORD = "acme-robot-pass"


def _acme_login(password: str = ROBOT_PASSWORD) -> LoginFn:
    """The acme portal's sign-in as the robot, with ``password``."""

    async def sign_in(lease: Lease) -> None:
        doc = await lease.goto(lease.site.url("/login"), {"form": Field("#login-form")}, signed_in=False)
        assert doc.has("form")
        await lease.tab.fill("#username", "robot")
        await lease.tab.fill("#password", password)
        doc = await lease.submit(lambda: lease.tab.click("#login-submit"), {"error": Field("#login-error")},
                                 signed_in=False)
        if doc.has("error"):
            raise LoginFailed("acme refused the test password")

    return sign_in


@pytest.fixture
def host(tmp_path: Path) -> Iterator[BrowserHost]:
    """A started BrowserHost (real headless Chromium) saving evidence under ``tmp_path``."""
    with BrowserHost(evidence=EvidenceFolder(tmp_path / "evidence", "run-1")) as h:
        yield h


@pytest.fixture
def acme_login() -> Callable[[str], LoginFn]:
    """``acme_login(password)``: the robot's sign-in to the mock acme portal with that password."""
    return _acme_login


@pytest.fixture
def acme_sign_in() -> LoginFn:
    """The robot's sign-in to the mock acme portal, with the right password."""
    return _acme_login()


@pytest.fixture
def acme_config(portals) -> Callable[..., SiteConfig]:  # type: ignore[no-untyped-def]
    """``acme_config(**kw)``: a SiteConfig for the mock acme portal (``name`` defaults to acme)."""

    def make(**kw: object) -> SiteConfig:
        kw.setdefault("name", "acme")
        return SiteConfig(base_url=f"{portals.url}/acme", login_marker="#login-form", **kw)  # type: ignore[arg-type]

    return make
