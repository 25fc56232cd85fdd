"""The payer's appeal decision (``POST /__admin/appeal-decision``): won pays the claim, upheld keeps it
denied, each in the portal's own status words and shown on the claim page; reset undoes it."""

from __future__ import annotations

import httpx

from mock_portals import MockPortals


def _claim(portals: MockPortals, payer: str, claim_id: str) -> dict:
    return next(c for c in portals.state["payers"][payer]["claims"] if c["claim_id"] == claim_id)


def test_a_won_appeal_pays_the_claim_and_shows_on_the_claim_page_until_reset(portals: MockPortals) -> None:
    answer = httpx.post(f"{portals.url}/__admin/appeal-decision", timeout=10, json={
        "payer": "acme", "claim_id": "CLM-1025", "decision": "won", "date": "2026-12-15"})
    assert answer.json() == {"claim_id": "CLM-1025", "status": "Paid"}
    claim = _claim(portals, "acme", "CLM-1025")
    assert (claim["paid"], claim["paid_date"], claim["carc"]) == (claim["billed"], "2026-12-15", [])
    with httpx.Client(base_url=portals.url) as client:
        client.post("/acme/login", data={"username": "robot", "password": "acme-robot-pass"})
        page = client.get("/acme/search", params={"claim_number": "CLM-1025"}, follow_redirects=True).text
    assert "Paid" in page and "denial overturned" in page
    portals.reset()
    assert _claim(portals, "acme", "CLM-1025")["status"] == "Denied"


def test_an_upheld_appeal_stays_denied_in_the_portals_words_and_a_bad_request_changes_nothing(
        portals: MockPortals) -> None:
    beacon_denied = next(c for c in portals.state["payers"]["beacon"]["claims"] if c["status"] == "DENIED")
    answer = httpx.post(f"{portals.url}/__admin/appeal-decision", timeout=10, json={
        "payer": "beacon", "claim_id": beacon_denied["claim_id"], "decision": "upheld", "date": "2026-12-20"})
    assert answer.json()["status"] == "DENIED"
    claim = _claim(portals, "beacon", beacon_denied["claim_id"])
    assert claim["status_date"] == "2026-12-20" and "upheld" in claim["remarks"]
    bad = httpx.post(f"{portals.url}/__admin/appeal-decision", timeout=10,
                     json={"payer": "acme", "claim_id": "CLM-1025", "decision": "maybe"})
    assert bad.status_code == 400 and _claim(portals, "acme", "CLM-1025")["status"] == "Denied"
    missing = httpx.post(f"{portals.url}/__admin/appeal-decision", timeout=10,
                         json={"payer": "acme", "claim_id": "CLM-0000", "decision": "won", "date": "2026-12-20"})
    assert missing.status_code == 404
