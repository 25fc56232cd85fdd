"""Sign-in, lockout and session rules over plain HTTP (no browser needed)."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
import pytest

from mock_portals import MockPortals

PASSWORDS = {"acme": "acme-robot-pass", "beacon": "beacon-robot-pass", "billing": "billing-robot-pass"}


@pytest.mark.parametrize("app", ["acme", "beacon", "billing"])
def test_five_consecutive_failures_lock_the_account(portals: MockPortals, app: str) -> None:
    with httpx.Client(base_url=portals.url) as client:
        def login(password: str) -> httpx.Response:
            return client.post(f"/{app}/login", data={"username": "robot", "password": password})

        for _ in range(4):
            assert "invalid" in login("wrong").text.lower()
        assert login(PASSWORDS[app]).status_code == 303  # a success resets the count
        for _ in range(4):
            assert "locked" not in login("wrong").text
        assert "locked" in login("wrong").text
        refused = login(PASSWORDS[app])
        assert refused.status_code == 200 and "locked" in refused.text
    assert portals.stats["lockouts"] == {**{a: 0 for a in PASSWORDS}, app: 1}


def test_each_app_has_its_own_session_cookie(portals: MockPortals) -> None:
    with httpx.Client(base_url=portals.url) as client:
        client.post("/acme/login", data={"username": "robot", "password": "acme-robot-pass"})
        assert client.get("/acme/search").status_code == 200
        billing = client.get("/billing/queue")
        assert billing.status_code == 303
        assert billing.headers["location"] == "/billing/login?next=%2Fbilling%2Fqueue"


def test_beacon_pages_need_the_one_time_code_first(portals: MockPortals) -> None:
    totp = pyotp.TOTP(portals.state["payers"]["beacon"]["users"][0]["totp_secret"])
    with httpx.Client(base_url=portals.url) as client:
        response = client.post("/beacon/login", data={
            "username": "robot", "password": "beacon-robot-pass", "next": "/beacon/claims/CLM-1033"})
        otp_url = response.headers["location"]
        assert otp_url.startswith("/beacon/otp?next=")
        assert client.get("/beacon/search").headers["location"].startswith("/beacon/otp")
        # The code of the previous 30 s step is still accepted (clock drift, slow robots).
        response = client.post(otp_url, data={"otp": totp.at(time.time() - 30)})
        assert response.headers["location"] == "/beacon/claims/CLM-1033"
        assert client.get("/beacon/claims/CLM-1033").status_code == 200


def test_next_cannot_leave_the_app(portals: MockPortals) -> None:
    with httpx.Client(base_url=portals.url) as client:
        response = client.post("/acme/login", data={
            "username": "robot", "password": "acme-robot-pass", "next": "https://evil.example/"})
        assert response.headers["location"] == "/acme/search"


def test_after_save_expire_stores_the_save_then_sends_the_confirmation_to_login(portals: MockPortals) -> None:
    portals.set_faults("after_save=expire")
    with httpx.Client(base_url=portals.url) as client:
        client.post("/billing/login", data={"username": "robot", "password": PASSWORDS["billing"]})
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/billing/claims/CLM-1001").text)
        assert token is not None
        saved = client.post("/billing/claims/CLM-1001",
                            data={"csrf_token": token[1], "status": "Paid", "note": "paid in full"})
        assert saved.status_code == 303  # the post/redirect/get of a stored save
        confirmation = client.get(saved.headers["location"])
        assert confirmation.status_code == 303 and confirmation.headers["location"].startswith("/billing/login")
    entry = next(e for e in httpx.get(f"{portals.url}/billing/api/queue").json()["queue"]
                 if e["claim_id"] == "CLM-1001")
    assert entry["status"] == "Paid" and entry["history"][-1]["user"] == "robot"
    assert portals.stats["sessions_expired"]["billing"] == 1
