"""The portals driven by a real headless Chromium, as the bots drive them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from mock_portals import SELECTORS, MockPortals

pytestmark = pytest.mark.browser

ACME = {k: v[0] for k, v in SELECTORS["acme"].items()}
BEACON = {k: v[0] for k, v in SELECTORS["beacon"].items()}
BILLING = {k: v[0] for k, v in SELECTORS["billing"].items()}
V1 = {"acme": ACME, "beacon": BEACON, "billing": BILLING}
PASSWORDS = {"acme": "acme-robot-pass", "beacon": "beacon-robot-pass", "billing": "billing-robot-pass"}


def claim(portals: MockPortals, payer: str, **match: object) -> dict:
    for c in portals.state["payers"][payer]["claims"]:
        if all(c.get(k) == v for k, v in match.items()):
            return c
    raise LookupError(match)


def attempt(page: Page, portals: MockPortals, app: str, password: str) -> None:
    """Submit the login form; a failed attempt re-renders it, so no new navigation is needed."""
    sel = V1[app]
    if "/login" not in page.url:
        page.goto(f"{portals.url}/{app}/login")
    page.fill(sel["login.username"], "robot")
    page.fill(sel["login.password"], password)
    with page.expect_navigation():
        page.click(sel["login.submit"])


@pytest.mark.parametrize("app", ["acme", "beacon", "billing"])
def test_login_lands_signed_in(page: Page, portals: MockPortals, sign_in: Callable, app: str) -> None:
    sign_in(page, app)
    expect(page.locator(V1[app]["nav.user"])).to_have_text("robot")
    assert portals.stats["logins"][app] == 1


def test_bad_password_shows_error_and_five_failures_lock_the_account(page: Page, portals: MockPortals) -> None:
    for _ in range(4):
        attempt(page, portals, "acme", "wrong-password")
        expect(page.locator(ACME["login.error"])).to_have_text("Invalid username or password.")
        expect(page.locator(ACME["login.locked"])).to_have_count(0)
    attempt(page, portals, "acme", "wrong-password")
    expect(page.locator(ACME["login.locked"])).to_contain_text("locked")
    # Once locked, even the right password is refused.
    attempt(page, portals, "acme", PASSWORDS["acme"])
    expect(page.locator(ACME["login.locked"])).to_be_visible()
    assert portals.stats["lockouts"]["acme"] == 1


def test_acme_search_reads_every_detail_field_of_a_denied_claim(
    page: Page, portals: MockPortals, sign_in: Callable
) -> None:
    denied = claim(portals, "acme", status="Denied", carc=["CO-16", "CO-4"])
    sign_in(page, "acme")
    page.fill(ACME["search.claim_number"], denied["claim_id"])
    page.click(ACME["search.submit"])

    expect(page.locator(ACME["detail.claim_id"])).to_have_text(denied["claim_id"])
    expect(page.locator(ACME["detail.patient_name"])).to_have_text(denied["patient_name"])
    expect(page.locator(ACME["detail.member_id"])).to_have_text(denied["member_id"])
    expect(page.locator(ACME["detail.date_of_service"])).to_have_text(denied["date_of_service"])
    expect(page.locator(ACME["detail.status"])).to_have_text("Denied")
    expect(page.locator(ACME["detail.status_date"])).to_have_text(denied["status_date"])
    expect(page.locator(ACME["detail.billed"])).to_have_text(f"${denied['billed']:,.2f}")
    expect(page.locator(ACME["detail.paid"])).to_have_text("$0.00")
    expect(page.locator(ACME["detail.payer_claim_number"])).to_have_text(denied["payer_claim_number"])
    expect(page.locator(ACME["detail.remarks"])).to_have_text(denied["remarks"])
    expect(page.locator(ACME["detail.carc_code"])).to_have_text(["CO-16", "CO-4"])
    texts = page.locator(ACME["detail.carc_text"]).all_inner_texts()
    assert texts[0].startswith("Claim/service lacks information")
    assert "modifier" in texts[1]


def test_acme_paid_claim_shows_payment_fields(page: Page, portals: MockPortals, sign_in: Callable) -> None:
    paid = claim(portals, "acme", status="Paid")
    sign_in(page, "acme")
    page.goto(f"{portals.url}/acme/search?claim_number={paid['claim_id']}")
    expect(page.locator(ACME["detail.paid"])).to_have_text(f"${paid['paid']:,.2f}")
    expect(page.locator(ACME["detail.paid_date"])).to_have_text(paid["paid_date"])
    expect(page.locator(ACME["detail.check_number"])).to_have_text(paid["check_number"])


def test_acme_unknown_claim_shows_no_claim_found(page: Page, portals: MockPortals, sign_in: Callable) -> None:
    sign_in(page, "acme")
    page.fill(ACME["search.claim_number"], "CLM-9999")
    page.click(ACME["search.submit"])
    expect(page.locator(ACME["search.not_found"])).to_contain_text("No claim found")
    assert page.url.startswith(f"{portals.url}/acme/search")


def test_pages_without_a_session_redirect_to_login_with_next(page: Page, portals: MockPortals) -> None:
    page.goto(f"{portals.url}/acme/claims/CLM-1001")
    assert "/acme/login?next=%2Facme%2Fclaims%2FCLM-1001" in page.url
    page.fill(ACME["login.username"], "robot")
    page.fill(ACME["login.password"], "acme-robot-pass")
    page.click(ACME["login.submit"])
    expect(page.locator(ACME["detail.claim_id"])).to_have_text("CLM-1001")


def test_beacon_totp_login_search_and_detail(page: Page, portals: MockPortals, sign_in: Callable) -> None:
    paid = claim(portals, "beacon", status="FINALIZED - PAID", carc=["CO-45", "PR-3"])
    sign_in(page, "beacon")
    page.fill(BEACON["search.member_id"], paid["member_id"])
    page.fill(BEACON["search.dos"], paid["date_of_service"])
    page.click(BEACON["search.submit"])

    rows = page.locator(BEACON["results.row"])
    expect(rows).to_have_count(1)
    expect(rows.locator(BEACON["results.claim_id"])).to_have_text(paid["claim_id"])
    rows.locator(BEACON["results.link"]).click()

    year, month, day = paid["date_of_service"].split("-")
    expect(page.locator(BEACON["detail.claim_id"])).to_have_text(paid["claim_id"])
    expect(page.locator(BEACON["detail.status"])).to_have_text("FINALIZED - PAID")
    expect(page.locator(BEACON["detail.date_of_service"])).to_have_text(f"{month}/{day}/{year}")
    expect(page.locator(BEACON["detail.paid"])).to_have_text(f"${paid['paid']:,.2f}")
    expect(page.locator(BEACON["detail.check_number"])).to_have_text(paid["check_number"])
    expect(page.locator(BEACON["detail.carc_code"])).to_have_text(["CO-45", "PR-3"])
    expect(page.locator(BEACON["detail.carc_text"]).nth(1)).to_have_text("Co-payment Amount.")


def test_beacon_wrong_one_time_code_is_refused(page: Page, portals: MockPortals, totp_code: Callable) -> None:
    attempt(page, portals, "beacon", "beacon-robot-pass")
    good = totp_code()
    page.fill(BEACON["otp.code"], "000000" if good != "000000" else "111111")
    page.click(BEACON["otp.submit"])
    expect(page.locator(BEACON["otp.error"])).to_be_visible()
    # Without the code, the search page sends the browser back to the code step.
    page.goto(f"{portals.url}/beacon/search")
    assert "/beacon/otp" in page.url


def test_beacon_ambiguous_search_lists_two_rows(page: Page, portals: MockPortals, sign_in: Callable) -> None:
    pair = [q["claim_id"] for q in portals.state["billing"]["queue"]
            if q.get("expected_route") == "PORTAL-AMBIGUOUS"]
    first = claim(portals, "beacon", claim_id=pair[0])
    sign_in(page, "beacon")
    page.goto(f"{portals.url}/beacon/search?member_id={first['member_id']}&dos={first['date_of_service']}")
    expect(page.locator(BEACON["results.row"])).to_have_count(2)
    expect(page.locator(BEACON["results.claim_id"])).to_have_text(pair)


def test_beacon_search_without_match_says_no_matching_claims(
    page: Page, portals: MockPortals, sign_in: Callable
) -> None:
    sign_in(page, "beacon")
    page.fill(BEACON["search.member_id"], "BCN000000000")
    page.fill(BEACON["search.dos"], "2026-10-01")
    page.click(BEACON["search.submit"])
    expect(page.locator(BEACON["search.no_results"])).to_have_text("No matching claims.")
    expect(page.locator(BEACON["results.row"])).to_have_count(0)


def test_billing_status_update_persists_and_shows_in_api(
    page: Page, portals: MockPortals, sign_in: Callable
) -> None:
    sign_in(page, "billing")
    page.fill(BILLING["queue.search"], "CLM-1023")
    page.click(BILLING["queue.search_submit"])
    expect(page).to_have_url(f"{portals.url}/billing/queue?q=CLM-1023")
    row = page.locator(BILLING["queue.row_for_claim"].format(claim_id="CLM-1023"))
    expect(row.locator(BILLING["queue.status"])).to_have_text("Submitted")
    row.locator(BILLING["queue.claim_link"]).click()

    page.select_option(BILLING["edit.status"], "Paid")
    page.fill(BILLING["edit.note"], "Paid per portal, EFT on file")
    page.click(BILLING["edit.save"])
    expect(page.locator(BILLING["edit.saved"])).to_have_text("Saved")
    expect(page.locator(BILLING["edit.current_status"])).to_have_text("Paid")
    expect(page.locator(BILLING["edit.status"])).to_have_value("Paid")
    expect(page.locator(BILLING["edit.history_row"])).to_have_count(1)

    entries = httpx.get(f"{portals.url}/billing/api/queue").json()["queue"]
    entry = next(e for e in entries if e["claim_id"] == "CLM-1023")
    assert (entry["status"], entry["note"]) == ("Paid", "Paid per portal, EFT on file")
    assert entry["history"][0]["from_status"] == "Submitted"


def test_billing_queue_pages_25_rows(page: Page, portals: MockPortals, sign_in: Callable) -> None:
    total = len(portals.state["billing"]["queue"])
    sign_in(page, "billing")
    expect(page.locator(BILLING["queue.row"])).to_have_count(25)
    expect(page.locator(BILLING["queue.page_info"])).to_have_attribute("data-total", str(total))
    expect(page.locator(BILLING["queue.prev_page"])).to_have_count(0)
    page.click(BILLING["queue.next_page"])
    expect(page).to_have_url(f"{portals.url}/billing/queue?page=2")
    expect(page.locator(BILLING["queue.claim"]).first).to_have_text(portals.state["billing"]["queue"][25]["claim_id"])


def test_billing_unknown_claim_is_404(page: Page, portals: MockPortals, sign_in: Callable) -> None:
    sign_in(page, "billing")
    response = page.goto(f"{portals.url}/billing/claims/CLM-0000")
    assert response is not None and response.status == 404
    expect(page.locator("#page-not-found")).to_be_visible()
