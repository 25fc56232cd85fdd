"""bots.core.browser's shared-browser API, as payer_portal and status_sync use it: one browser
for many worker threads, signed-in context pools with limits, and errors at the boundary."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bots.core.browser import BrowserHost, Field, LoginFn, SiteConfig, SitePool
from bots.core.errors import CaptchaChallenge, ItemDeferred, PortalTimeout, PortalUnavailable
from bots.core.evidence import sha256_file
from mock_portals import MockPortals

pytestmark = pytest.mark.browser


def test_worker_threads_share_one_browser_within_the_site_limit_and_sign_in_once(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_sign_in: LoginFn) -> None:
    site = host.site(acme_config(concurrency=3, min_interval=0.1, fetch_mode="request"), acme_sign_in)
    busy, peak, lock = 0, 0, threading.Lock()

    async def status(claim_id: str) -> str | None:
        nonlocal busy, peak
        async with site.lease(label=claim_id) as lease:
            with lock:
                busy += 1
                peak = max(peak, busy)
            doc = await lease.open(site.url(f"/search?claim_number={claim_id}"), {"status": Field("#claim-status")})
            await asyncio.sleep(0.05)
            with lock:
                busy -= 1
            return doc.text("status")

    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda n: host.run(status(f"CLM-10{n:02d}")), [1, 3, 9, 16, 25, 29, 1, 3]))
    took = time.monotonic() - began
    assert got == ["Received", "Accepted", "In Process", "Paid", "Denied", "Finalized - No Payment", "Received",
                   "Accepted"]
    assert peak == 3 and site.stats["contexts"] == 3 and site.stats["logins"] == 1
    assert portals.stats["logins"]["acme"] == 1  # the other contexts reused the signed-in storage state
    # 2 sign-in requests and 8 lookups (each ends on the claim after a redirect), 0.1 s apart at least.
    assert site.stats["requests"] == 10 and took >= 0.9


def test_portal_trouble_becomes_bots_errors_with_a_screenshot(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_sign_in: LoginFn) -> None:
    # The default timeout for the 503s: on a loaded machine a short one could expire first.
    site = host.site(acme_config(fetch_mode="request"), acme_sign_in)
    slow = host.site(acme_config(name="acme-slow", fetch_mode="request", timeout_ms=1000), acme_sign_in)

    async def load(pool: SitePool, path: str) -> None:
        async with pool.lease(label="CLM-1001") as lease:
            await lease.open(pool.url(path))

    portals.set_faults("error_rate=1")
    with pytest.raises(PortalUnavailable) as unavailable:
        host.run(load(site, "/search"))
    shot = Path(unavailable.value.screenshot or "")
    assert shot.read_bytes().startswith(b"\x89PNG") and stat.S_IMODE(os.stat(shot).st_mode) == 0o600
    portals.set_faults("latency_ms=3000")
    with pytest.raises(PortalTimeout):
        host.run(load(slow, "/search"))
    portals.set_faults("captcha=acme")
    portals.reset()
    other = host.site(acme_config(name="acme-again"), acme_sign_in)

    async def captcha() -> None:
        async with other.lease() as lease:
            await lease.open(other.url("/search"))
    with pytest.raises(CaptchaChallenge):
        host.run(captcha())
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gone = host.site(SiteConfig(name="nowhere", base_url=f"http://127.0.0.1:{port}/x"), acme_sign_in)

    async def unreachable() -> None:
        async with gone.lease() as lease:
            await lease.open(gone.url("/"))
    with pytest.raises(PortalUnavailable, match="cannot reach"):
        host.run(unreachable())


def test_a_maintenance_page_pauses_the_site_for_the_run(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_sign_in: LoginFn) -> None:
    portals.set_faults("maintenance=acme")
    site = host.site(acme_config(), acme_sign_in)

    async def load() -> None:
        async with site.lease() as lease:
            await lease.open(site.url("/search"))

    for _ in range(3):
        with pytest.raises(ItemDeferred, match="maintenance"):
            host.run(load())
    assert portals.stats["maintenance_503"]["acme"] == 1


def test_images_are_blocked_and_html_snapshots_are_owner_only_with_their_sha256(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_sign_in: LoginFn) -> None:
    site = host.site(acme_config(fetch_mode="page"), acme_sign_in)

    async def look() -> tuple[Path, str, int]:
        async with site.lease(label="CLM-1016") as lease:
            doc = await lease.open(site.url("/claims/CLM-1016"), {"paid": Field("#paid-amount")})
            snap = await doc.save_html("detail")  # page mode: the tab's HTML now, so before moving on
            await lease.tab.set_content(f'<img src="{portals.url}/static/logo.png"><p>x</p>')
            await lease.tab.wait_for_timeout(200)
            return snap.path, snap.sha256, site.stats["blocked"]

    path, sha, blocked = host.run(look())
    assert blocked >= 1
    assert sha256_file(path) == sha and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "CLM-1016" in path.read_text()
