"""Fixtures for the mock portal tests: a headless Chromium and a running portal server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyotp
import pytest
from playwright.sync_api import Page

from mock_portals import SELECTORS, MockPortals

USERS = {
    "acme": ("robot", "acme-robot-pass"),
    "beacon": ("robot", "beacon-robot-pass"),
    "billing": ("robot", "billing-robot-pass"),
}


@pytest.fixture(scope="session")
def _shared_portals() -> Iterator[MockPortals]:
    with MockPortals() as portals:
        yield portals


@pytest.fixture
def portals(_shared_portals: MockPortals) -> MockPortals:
    """The sample portals with no faults, fresh state, no sessions and no lockouts.

    One server for the whole session keeps the suite fast; ``reset()`` stops state,
    faults or lockouts from leaking between tests. Tests that need their own data or
    seed start their own ``MockPortals``.
    """
    _shared_portals.set_faults("")
    _shared_portals.reset()
    return _shared_portals


@pytest.fixture
def totp_code(portals: MockPortals) -> Callable[[], str]:
    """The current beacon one-time code, computed from the secret as a robot does."""
    secret = portals.state["payers"]["beacon"]["users"][0]["totp_secret"]
    return lambda: pyotp.TOTP(secret).now()


@pytest.fixture
def sign_in(portals: MockPortals, totp_code: Callable[[], str]) -> Callable[[Page, str], None]:
    """Sign a page in to one app (beacon includes the one-time code), in the current layout."""

    def _sign_in(page: Page, app: str) -> None:
        layout = 1 if portals.faults.layout == "v2" else 0
        sel = {key: pair[layout] for key, pair in SELECTORS[app].items()}
        username, password = USERS[app]
        page.goto(f"{portals.url}/{app}/login")
        page.fill(sel["login.username"], username)
        page.fill(sel["login.password"], password)
        page.click(sel["login.submit"])
        if app == "beacon":
            page.fill(sel["otp.code"], totp_code())
            page.click(sel["otp.submit"])
        # A click only starts the navigation; wait until the signed-in page has loaded.
        page.wait_for_url(lambda url: "/login" not in url and "/otp" not in url)

    return _sign_in
