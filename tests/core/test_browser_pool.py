"""bots.core.browser.pool and .lease: one site's signed-in contexts against the mock acme portal:
a refused sign-in stops sign-ins for the run, an ended session is renewed once for the site, and a
faulted lease's tab is replaced while a business outcome keeps it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bots.core.browser import BrowserHost, Field, LoginFn, SiteConfig
from bots.core.errors import ConfigError, ItemDeferred, LoginFailed, PortalUnavailable, SiteOutage, SystemFault
from mock_portals import MockPortals

pytestmark = pytest.mark.browser


def test_a_refused_sign_in_defers_the_rest_of_the_run_without_asking_the_portal_again(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_login: Callable[[str], LoginFn]) -> None:
    site = host.site(acme_config(fetch_mode="request"), acme_login("wrong-password"))
    told: list[LoginFailed] = []
    site.remember_refusals(told.append)

    async def lookup() -> None:
        async with site.lease(label="CLM-1001") as lease:
            await lease.open(site.url("/search?claim_number=CLM-1001"))

    with pytest.raises(LoginFailed) as refused:
        host.run(lookup())
    assert Path(refused.value.screenshot or "").read_bytes().startswith(b"\x89PNG")  # the sign-in page
    for _ in range(3):
        with pytest.raises(ItemDeferred, match="refused earlier in this run"):
            host.run(lookup())
    assert portals.stats["login_failures"]["acme"] == 1 and portals.stats["lockouts"]["acme"] == 0
    assert site.stats["logins"] == 0
    assert told == [refused.value], "the refusal is told once, to be remembered beyond the run"


def test_a_refusal_that_cannot_be_remembered_still_stops_the_run_s_sign_ins(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_login: Callable[[str], LoginFn]) -> None:
    site = host.site(acme_config(fetch_mode="request"), acme_login("wrong-password"))

    def broken_store(_exc: LoginFailed) -> None:
        raise OSError("database is gone")

    site.remember_refusals(broken_store)
    with pytest.raises(LoginFailed):
        host.run(site.check_sign_in())
    with pytest.raises(ItemDeferred, match="refused earlier in this run"):
        host.run(site.check_sign_in())
    assert portals.stats["login_failures"]["acme"] == 1


def test_an_ended_session_is_renewed_by_one_sign_in_and_the_page_loaded_again(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_sign_in: LoginFn) -> None:
    portals.set_faults("expire_after=2")
    site = host.site(acme_config(fetch_mode="request"), acme_sign_in)

    async def statuses(claims: list[str]) -> list[str | None]:
        async with site.lease() as lease:
            return [(await lease.open(site.url(f"/claims/{c}"), {"s": Field("#claim-status")})).text("s")
                    for c in claims]

    got = host.run(statuses(["CLM-1001", "CLM-1003", "CLM-1016", "CLM-1001"]))
    assert got == ["Received", "Accepted", "Paid", "Received"]
    assert portals.stats["sessions_expired"]["acme"] >= 1
    assert site.stats["sessions_ended"] == portals.stats["sessions_expired"]["acme"]
    assert site.stats["logins"] == portals.stats["logins"]["acme"] == 1 + site.stats["sessions_ended"]


def test_a_faulted_lease_gets_a_fresh_tab_and_a_business_outcome_keeps_it(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_sign_in: LoginFn) -> None:
    site = host.site(acme_config(fetch_mode="page", concurrency=1), acme_sign_in)

    async def look(then_raise: Exception | None) -> int:
        async with site.lease(label="CLM-1016") as lease:
            await lease.open(site.url("/claims/CLM-1016"))
            if then_raise is not None:
                raise then_raise
            return id(lease.tab)

    first = host.run(look(None))
    with pytest.raises(ItemDeferred):
        host.run(look(ItemDeferred("not today")))
    assert site.stats["tabs_closed"] == 0 and host.run(look(None)) == first
    with pytest.raises(SystemFault) as fault:
        host.run(look(SystemFault("the page looked wrong")))
    assert Path(fault.value.screenshot or "").read_bytes().startswith(b"\x89PNG")
    assert site.stats["tabs_closed"] == 1
    assert host.run(look(None)) != first and site.stats["contexts"] == 1


def test_a_site_needs_room_for_one_lease_at_least(acme_sign_in: LoginFn) -> None:
    host = BrowserHost()  # never started: the pool checks its config before touching a browser
    with pytest.raises(ConfigError, match="site acme: concurrency"):
        host.site(SiteConfig(name="acme", base_url="http://127.0.0.1:1/acme", concurrency=0), acme_sign_in)


def test_site_urls_join_with_one_slash() -> None:
    site = SiteConfig(name="acme", base_url="http://127.0.0.1:8700/acme/")
    assert site.url("/claims/CLM-1") == site.url("claims/CLM-1") == "http://127.0.0.1:8700/acme/claims/CLM-1"


@pytest.mark.parametrize(("over_seconds", "down"), [(0.0, True), (3600.0, False)],
                         ids=["5xx-for-long-enough-is-an-outage", "a-burst-of-5xx-is-the-items-fault"])
def test_a_site_answering_only_5xx_is_down_only_once_it_has_lasted(
        host: BrowserHost, portals: MockPortals, acme_config: Callable[..., SiteConfig],
        acme_sign_in: LoginFn, over_seconds: float, down: bool) -> None:
    site = host.site(acme_config(fetch_mode="request", outage_after_errors=3, outage_after_seconds=over_seconds),
                     acme_sign_in)

    async def lookup() -> None:
        async with site.lease(label="CLM-1001") as lease:
            await lease.open(site.url("/search?claim_number=CLM-1001"))

    host.run(lookup())  # signed in while the portal answers
    portals.set_faults("error_rate=1")
    raised = []
    for _ in range(5):
        with pytest.raises(SystemFault) as fault:
            host.run(lookup())
        raised.append(type(fault.value))
    assert (SiteOutage in raised) is down
    if down:  # from then on the site takes no more requests this run
        before = portals.stats["requests"]["acme"]
        with pytest.raises(SiteOutage):
            host.run(lookup())
        assert portals.stats["requests"]["acme"] == before
    else:
        assert set(raised) == {PortalUnavailable}
