"""The selector table (README and ``SELECTORS``) matches the pages, in both layouts.

The bots' payer profiles are written from that table, so every documented selector must be
on its page in its layout, and none of the other layout's selectors may be.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import mock_portals
from mock_portals import SELECTORS, SHARED_SELECTORS, MockPortals

README = Path(mock_portals.__file__).with_name("README.md")


class Walk:
    """Checks selectors on the current page and remembers which keys were verified."""

    def __init__(self, page: Page, app: str, layout: str) -> None:
        index = 0 if layout == "v1" else 1
        self.page = page
        self.mine = {key: pair[index] for key, pair in SELECTORS[app].items()}
        self.other = [pair[1 - index] for pair in SELECTORS[app].values()]
        self.seen: set[str] = set()

    def sel(self, key: str) -> str:
        return self.mine[key]

    def check(self, *keys: str, claim_id: str = "") -> None:
        wanted = [self.mine[key].format(claim_id=claim_id) for key in keys]
        other = [sel.format(claim_id=claim_id) for sel in self.other]
        # A click only waits for the navigation to start: wait for the new page's content.
        for sel in wanted:
            self.page.locator(sel).first.wait_for(state="attached")
        self.page.wait_for_load_state()
        counts = self.page.evaluate(
            "sels => sels.map(s => document.querySelectorAll(s).length)", wanted + other
        )
        missing = [key for key, n in zip(keys, counts, strict=False) if n == 0]
        leaked = [sel for sel, n in zip(other, counts[len(wanted):], strict=True) if n]
        assert not missing, f"missing on {self.page.url}: {missing}"
        assert not leaked, f"other layout's selectors on {self.page.url}: {leaked}"
        self.seen.update(keys)

    def login(self, username: str, password: str) -> None:
        self.page.fill(self.sel("login.username"), username)
        self.page.fill(self.sel("login.password"), password)
        with self.page.expect_navigation():
            self.page.click(self.sel("login.submit"))


LOGIN = ("login.form", "login.username", "login.password", "login.submit")
DETAIL = tuple(key for key in SELECTORS["acme"] if key.startswith("detail."))


def walk_login(w: Walk, url: str, password: str) -> None:
    w.page.goto(f"{url}/login")
    w.check(*LOGIN)
    w.login("robot", "not-the-password")
    w.check(*LOGIN, "login.error")
    for _ in range(5):
        w.login("intruder", "guess")
    w.check("login.locked")
    w.page.goto(f"{url}/login?expired=1")
    w.check("login.session_expired")
    w.login("robot", password)


@pytest.mark.browser
@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_acme_selectors(page: Page, portals: MockPortals, layout: str) -> None:
    portals.set_faults(f"layout={layout}")
    w = Walk(page, "acme", layout)
    walk_login(w, f"{portals.url}/acme", "acme-robot-pass")
    w.check("nav.user", "nav.logout", "search.form", "search.claim_number", "search.submit")
    page.fill(w.sel("search.claim_number"), "CLM-0000")
    page.click(w.sel("search.submit"))
    w.check("search.not_found")
    denied = next(c for c in portals.state["payers"]["acme"]["claims"] if len(c["carc"]) == 2)
    page.fill(w.sel("search.claim_number"), denied["claim_id"])
    page.click(w.sel("search.submit"))
    w.check(*DETAIL)
    assert page.locator(w.sel("detail.carc_row")).count() == 2
    assert w.seen == set(SELECTORS["acme"])


@pytest.mark.browser
@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_beacon_selectors(page: Page, portals: MockPortals, layout: str, totp_code) -> None:
    portals.set_faults(f"layout={layout}")
    w = Walk(page, "beacon", layout)
    walk_login(w, f"{portals.url}/beacon", "beacon-robot-pass")
    w.check("otp.code", "otp.submit")
    page.fill(w.sel("otp.code"), "000000" if totp_code() != "000000" else "111111")
    page.click(w.sel("otp.submit"))
    w.check("otp.error")
    page.fill(w.sel("otp.code"), totp_code())
    page.click(w.sel("otp.submit"))
    w.check("nav.user", "nav.logout", "search.member_id", "search.dos", "search.submit")

    page.fill(w.sel("search.member_id"), "BCN000000000")
    page.click(w.sel("search.submit"))
    w.check("search.error")
    page.fill(w.sel("search.dos"), "2026-10-01")
    page.click(w.sel("search.submit"))
    w.check("search.no_results")

    first_of_pair = next(q["claim_id"] for q in portals.state["billing"]["queue"]
                         if q.get("expected_route") == "PORTAL-AMBIGUOUS")
    claim = next(c for c in portals.state["payers"]["beacon"]["claims"] if c["claim_id"] == first_of_pair)
    page.fill(w.sel("search.member_id"), claim["member_id"])
    page.fill(w.sel("search.dos"), claim["date_of_service"])
    page.click(w.sel("search.submit"))
    w.check("results.table", "results.row", "results.claim_id", "results.status", "results.link")
    assert page.locator(w.sel("results.row")).count() == 2

    denied = next(c for c in portals.state["payers"]["beacon"]["claims"] if len(c["carc"]) == 2)
    page.fill(w.sel("search.member_id"), denied["member_id"])
    page.fill(w.sel("search.dos"), denied["date_of_service"])
    page.click(w.sel("search.submit"))
    row = page.locator(w.sel("results.row"))
    expect(row.locator(w.sel("results.claim_id"))).to_have_text(denied["claim_id"])
    row.locator(w.sel("results.link")).click()
    w.check(*DETAIL)
    assert w.seen == set(SELECTORS["beacon"])


@pytest.mark.browser
@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_billing_selectors(page: Page, portals: MockPortals, layout: str) -> None:
    portals.set_faults(f"layout={layout}")
    w = Walk(page, "billing", layout)
    walk_login(w, f"{portals.url}/billing", "billing-robot-pass")
    first = portals.state["billing"]["queue"][0]["claim_id"]
    w.check("nav.user", "nav.logout", "queue.search", "queue.search_submit", "queue.table", "queue.row",
            "queue.row_for_claim", "queue.claim_link", "queue.claim", "queue.payer", "queue.status",
            "queue.note", "queue.updated", "queue.page_info", "queue.next_page", claim_id=first)
    page.click(w.sel("queue.next_page"))
    w.check("queue.prev_page")
    page.fill(w.sel("queue.search"), "NO-SUCH-CLAIM")
    page.click(w.sel("queue.search_submit"))
    w.check("queue.empty")

    page.goto(f"{portals.url}/billing/claims/{first}")
    w.check("edit.form", "edit.claim_id", "edit.payer", "edit.current_status", "edit.status",
            "edit.note", "edit.save", "edit.back")
    page.select_option(w.sel("edit.status"), "Pending")
    page.click(w.sel("edit.save"))
    w.check("edit.saved", "edit.history_row")
    # A value the dropdown does not offer, as a tampered or stale form would post.
    page.eval_on_selector(w.sel("edit.status"), "s => { s.add(new Option('Bogus', 'Bogus')); s.value = 'Bogus'; }")
    page.click(w.sel("edit.save"))
    w.check("edit.error")
    assert w.seen == set(SELECTORS["billing"])


def test_readme_documents_every_selector() -> None:
    readme = README.read_text(encoding="utf-8")
    for app, table in SELECTORS.items():
        for key, (v1, v2) in table.items():
            page, element = key.split(".")
            row = f"| {page} | {element} | `{v1}` | `{v2}` |"
            assert row in readme, f"{app}: README lacks {row}"
    for key, sel in SHARED_SELECTORS.items():
        page, element = key.split(".")
        assert f"| {page} | {element} | `{sel}` |" in readme


def test_v1_and_v2_selectors_all_differ() -> None:
    for app, table in SELECTORS.items():
        v1 = {pair[0] for pair in table.values()}
        v2 = {pair[1] for pair in table.values()}
        assert not v1 & v2, app
        assert len(v1) == len(v2) == len(table), f"{app}: a selector is listed twice"
