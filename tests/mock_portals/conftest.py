"""Fixtures for the mock portal tests: a headless Chromium and a running portal server."""

from __future__ import annotations

from collections.abc import Callable

import pyotp
import pytest
from playwright.sync_api import Page

from mock_portals import SELECTORS, MockPortals

USERS = {
    "acme": ("robot", "acme-robot-pass"),
    "beacon": ("robot", "beacon-robot-pass"),
    "billing": ("robot", "billing-robot-pass"),
}


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
