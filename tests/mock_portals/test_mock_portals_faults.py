"""Each fault behaves as specified, and deterministically for a seed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Page, expect

from mock_portals import SELECTORS, MockPortals

ACME = {k: v[0] for k, v in SELECTORS["acme"].items()}
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a fresh thread: sync Playwright keeps a loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _login_statuses(spec: str, n: int = 200) -> tuple[list[int], dict, str]:
    with MockPortals(faults=spec) as mp, httpx.Client(base_url=mp.url) as client:
        codes = []
        for _ in range(n):
            response = client.get("/acme/login")
            codes.append(response.status_code)
            if response.status_code == 503:
                body = response.text
        return codes, mp.stats, body


def test_error_rate_serves_503_at_about_the_rate_and_repeats_for_the_same_seed() -> None:
    codes, stats, body = _login_statuses("error_rate=0.1,seed=7")
    again, _, _ = _login_statuses("error_rate=0.1,seed=7")
    other_seed, _, _ = _login_statuses("error_rate=0.1,seed=8")

    assert set(codes) == {200, 503}
    assert 10 <= codes.count(503) <= 35  # 20 expected of 200
    assert codes == again
    assert codes != other_seed
    assert stats["served_503"] == codes.count(503)
    assert "<title>Service Unavailable</title>" in body and 'id="service-unavailable"' in body


def test_admin_static_and_api_endpoints_are_never_faulted(portals: MockPortals) -> None:
    portals.set_faults("error_rate=1,maintenance=all")
    with httpx.Client(base_url=portals.url) as client:
        assert client.get("/acme/login").status_code == 503
        assert client.get("/billing/login").status_code == 503
        assert client.get("/__admin/stats").status_code == 200
        assert client.get("/billing/api/queue").status_code == 200
        assert client.get("/static/portal.css").status_code == 200


@pytest.mark.browser
def test_session_expires_after_n_requests_with_a_visible_message(
    page: Page, portals: MockPortals, sign_in: Callable
) -> None:
    portals.set_faults("expire_after=3")
    sign_in(page, "acme")  # lands on the search page: request 1 with the session
    page.goto(f"{portals.url}/acme/search")  # 2
    page.goto(f"{portals.url}/acme/claims/CLM-1001")  # 3
    expect(page.locator(ACME["detail.claim_id"])).to_have_text("CLM-1001")

    page.goto(f"{portals.url}/acme/search")  # 4: expired
    expect(page).to_have_url(f"{portals.url}/acme/login?expired=1&next=%2Facme%2Fsearch")
    expect(page.locator(ACME["login.session_expired"])).to_have_text(
        "Your session has expired. Please sign in again."
    )
    assert portals.stats["sessions_expired"]["acme"] == 1

    page.fill(ACME["login.username"], "robot")
    page.fill(ACME["login.password"], "acme-robot-pass")
    page.click(ACME["login.submit"])
    expect(page).to_have_url(f"{portals.url}/acme/search")  # back where the expiry interrupted


@pytest.mark.browser
def test_layout_v2_replaces_every_v1_selector(page: Page, portals: MockPortals, sign_in: Callable) -> None:
    portals.set_faults("layout=v2")
    page.goto(f"{portals.url}/acme/login")
    expect(page.locator(ACME["login.username"])).to_have_count(0)
    expect(page.locator(SELECTORS["acme"]["login.username"][1])).to_be_visible()
    sign_in(page, "acme")
    page.fill(SELECTORS["acme"]["search.claim_number"][1], "CLM-1001")
    page.click(SELECTORS["acme"]["search.submit"][1])
    expect(page.locator(SELECTORS["acme"]["detail.claim_id"][1])).to_have_text("CLM-1001")
    expect(page.locator(ACME["detail.claim_id"])).to_have_count(0)


@pytest.mark.browser
def test_maintenance_serves_a_503_page_for_the_named_payer_only(page: Page, portals: MockPortals) -> None:
    portals.set_faults("maintenance=beacon")
    response = page.goto(f"{portals.url}/beacon/login")
    assert response is not None and response.status == 503
    assert page.title() == "Scheduled Maintenance"
    expect(page.locator("#maintenance-notice")).to_be_visible()

    response = page.goto(f"{portals.url}/acme/login")
    assert response is not None and response.status == 200
    expect(page.locator("#maintenance-notice")).to_have_count(0)
    assert portals.stats["maintenance_503"] == {"acme": 0, "beacon": 1, "billing": 0}


def test_maintenance_all_means_every_payer_portal_not_billing(portals: MockPortals) -> None:
    portals.set_faults("maintenance=all")
    with httpx.Client(base_url=portals.url) as client:
        assert client.get("/acme/login").status_code == 503
        assert client.get("/beacon/login").status_code == 503
        assert client.get("/billing/login").status_code == 200


@pytest.mark.browser
def test_captcha_after_login_cannot_be_passed(page: Page, portals: MockPortals, sign_in: Callable) -> None:
    portals.set_faults("captcha=acme")
    sign_in(page, "acme")
    expect(page.locator("#captcha-challenge")).to_be_visible()
    page.check("#captcha-checkbox")
    page.click("#captcha-submit")
    expect(page.locator("#captcha-error")).to_be_visible()
    expect(page.locator("#captcha-challenge")).to_be_visible()
    page.goto(f"{portals.url}/acme/claims/CLM-1001")
    expect(page.locator("#captcha-challenge")).to_be_visible()
    expect(page.locator(ACME["detail.claim_id"])).to_have_count(0)

    sign_in(page, "billing")  # other apps are unaffected
    expect(page.locator("#captcha-challenge")).to_have_count(0)


def test_latency_delays_portal_pages_without_serialising_them(portals: MockPortals) -> None:
    """Pages wait ``latency_ms`` side by side (the server's own count of pages held at once), and
    admin requests never wait. Counted by the server, not timed: a loaded machine cannot fail it."""
    portals.set_faults("latency_ms=300")

    async def measure() -> float:
        async with httpx.AsyncClient(base_url=portals.url) as client:
            start = time.perf_counter()
            await client.get("/acme/login")
            one = time.perf_counter() - start
            responses = await asyncio.gather(*(client.get("/beacon/login") for _ in range(12)))
            assert all(r.status_code == 200 for r in responses)
            await client.get("/__admin/stats")
            return one

    one = run_async(measure())
    stats = httpx.get(f"{portals.url}/__admin/stats").json()
    assert one >= 0.29  # a page waits at least the latency (asyncio.sleep never wakes early)
    assert stats["delayed"] == {**{app: 0 for app in stats["delayed"]}, "acme": 1, "beacon": 12}  # admin: none
    assert stats["delayed_at_once"]["beacon"] > 1  # the twelve waited together, not one after another


def test_parallel_sessions_under_latency_each_read_their_own_claim(portals: MockPortals) -> None:
    """Like a bot with a dozen browser contexts: sign-ins and reads interleave safely."""
    portals.set_faults("latency_ms=300")
    claim_ids = [c["claim_id"] for c in portals.state["payers"]["acme"]["claims"][:12]]

    spans: list[tuple[float, float]] = []

    async def lookup(claim_id: str) -> str:
        async with httpx.AsyncClient(base_url=portals.url, follow_redirects=True) as client:
            await client.post("/acme/login", data={"username": "robot", "password": "acme-robot-pass"})
            began = time.monotonic()
            response = await client.get("/acme/search", params={"claim_number": claim_id})
            spans.append((began, time.monotonic()))
            return response.text

    async def run_all() -> list[str]:
        return await asyncio.gather(*(lookup(c) for c in claim_ids))

    pages = run_async(run_all())
    for claim_id, html in zip(claim_ids, pages, strict=True):
        assert f'<dd id="claim-id">{claim_id}</dd>' in html
    assert portals.stats["logins"]["acme"] == 12
    # The server answers sessions side by side: some reads were in flight at the same moment
    # (a server that serialised them would show no overlap at all, however fast the machine).
    spans.sort()
    assert any(later_start < earlier_end for (_, earlier_end), (later_start, _) in zip(spans, spans[1:]))


def test_admin_endpoint_switches_faults_from_another_process(portals: MockPortals) -> None:
    with httpx.Client(base_url=portals.url) as client:
        response = client.post("/__admin/faults", json={"spec": "layout=v2,seed=3"})
        assert response.json() == {"faults": "layout=v2,seed=3"}
        assert portals.faults.layout == "v2"

        response = client.post("/__admin/faults", data={"spec": "maintenance=acme"})
        assert response.status_code == 200
        assert client.get("/acme/login").status_code == 503

        response = client.post("/__admin/faults", json={"spec": "layout=v9"})
        assert response.status_code == 400
        assert "layout" in response.json()["error"] and "v9" in response.json()["error"]
        assert portals.faults.maintenance == "acme"  # a bad spec changes nothing

        stats = client.get("/__admin/stats").json()
        assert stats["requests"]["acme"] == 1
        assert stats["maintenance_503"]["acme"] == 1
        assert {"served_503", "logins", "sessions_expired", "total_requests"} <= stats.keys()


def test_set_faults_switches_at_runtime(portals: MockPortals) -> None:
    with httpx.Client(base_url=portals.url) as client:
        assert client.get("/acme/login").status_code == 200
        portals.set_faults("error_rate=1")
        assert client.get("/acme/login").status_code == 503
        portals.set_faults("")
        assert client.get("/acme/login").status_code == 200
    assert portals.request_count == 3
