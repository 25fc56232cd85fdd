"""The billing edit form's hidden anti-forgery token: a save without it, or with another session's,
is refused with a page that says so and stores nothing; a browser filling the form sends it unasked."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

import httpx
from playwright.sync_api import Page, expect

from mock_portals import SELECTORS, MockPortals

BILLING = {k: v[0] for k, v in SELECTORS["billing"].items()}
ROBOT = {"username": "robot", "password": "billing-robot-pass"}


@contextlib.contextmanager
def signed_in(portals: MockPortals) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portals.url) as client:
        assert client.post("/billing/login", data=ROBOT).status_code == 303
        yield client


def form_token(client: httpx.Client, claim_id: str) -> str:
    page = client.get(f"/billing/claims/{claim_id}")
    found = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', page.text)
    assert page.status_code == 200 and found is not None, "the form has no hidden csrf_token field"
    return found[1]


def entry(portals: MockPortals, claim_id: str) -> dict:
    return next(e for e in portals.state["billing"]["queue"] if e["claim_id"] == claim_id)


def test_a_save_without_the_token_is_refused_with_a_clear_page_and_stores_nothing(portals: MockPortals) -> None:
    before = dict(entry(portals, "CLM-1001"))
    with signed_in(portals) as client:
        refused = client.post("/billing/claims/CLM-1001", data={"status": "Paid", "note": "paid in full"})
    assert refused.status_code == 403
    assert re.search(r'id="form-error"[^>]*>[^<]*security token is missing or out of date', refused.text)
    assert entry(portals, "CLM-1001") == before and not before.get("history")
    assert portals.stats["csrf_refused"]["billing"] == 1 and portals.stats["saves"]["billing"] == 0


def test_a_token_from_another_session_is_refused(portals: MockPortals) -> None:
    with signed_in(portals) as earlier:
        stale = form_token(earlier, "CLM-1002")
    with signed_in(portals) as client:
        assert form_token(client, "CLM-1002") != stale  # the token belongs to the session
        refused = client.post("/billing/claims/CLM-1002", data={"csrf_token": stale, "status": "Paid", "note": "x"})
    assert refused.status_code == 403 and entry(portals, "CLM-1002")["status"] == "Submitted"
    assert portals.stats["csrf_refused"]["billing"] == 1


def test_a_save_with_the_forms_token_is_stored_and_counted_as_not_from_a_tab(portals: MockPortals) -> None:
    with signed_in(portals) as client:
        token = form_token(client, "CLM-1003")
        saved = client.post("/billing/claims/CLM-1003",
                            data={"csrf_token": token, "status": "Denied", "note": "denied CO-50"})
    assert saved.status_code == 303 and saved.headers["location"] == "/billing/claims/CLM-1003?saved=1"
    assert (entry(portals, "CLM-1003")["status"], entry(portals, "CLM-1003")["note"]) == ("Denied", "denied CO-50")
    stats = portals.stats
    assert stats["saves"]["billing"] == 1 and stats["saves_from_tab"]["billing"] == 0
    assert stats["csrf_refused"]["billing"] == 0


def test_a_browser_filling_the_form_sends_the_hidden_token_without_being_told(
        page: Page, portals: MockPortals, sign_in: Callable[[Page, str], None]) -> None:
    sign_in(page, "billing")
    page.goto(f"{portals.url}/billing/claims/CLM-1004")
    page.select_option(BILLING["edit.status"], "Pending")
    page.fill(BILLING["edit.note"], "pended for review")
    page.click(BILLING["edit.save"])
    expect(page.locator(BILLING["edit.saved"])).to_have_text("Saved")
    assert entry(portals, "CLM-1004")["status"] == "Pending"
    stats = portals.stats
    assert stats["saves_from_tab"]["billing"] == stats["saves"]["billing"] == 1
    assert stats["csrf_refused"]["billing"] == 0
