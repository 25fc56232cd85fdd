"""A payer profile's ``reader``: the in-process lexbor reader reads every field the page objects
use exactly as the browser's DOMParser does, on the mock portals' real pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bots.core.browser import BrowserHost, Field
from bots.core.browser.reading import read_html
from bots.core.errors import ConfigError
from bots.core.settings import Settings
from bots.payer_portal.pages import DetailPage, ResultsPage
from bots.payer_portal.portal import PayerPortal
from bots.payer_portal.profile import PayerProfile, load_profiles, payer_environment, resolve_credentials
from mock_portals import MockPortals
from payer_portal.portal_helpers import edit_profile

pytestmark = pytest.mark.browser

PAGES = {
    "acme": ["/search?claim_number=CLM-1025",            # lands on a denial's detail (CARC rows)
             "/search?claim_number=CLM-1016",            # a paid claim
             "/search?claim_number=CLM-1007",            # no claim found
             "/claims/CLM-9999"],                        # the portal's "page not found"
    "beacon": ["/search?member_id=BCN563100113&dos=2026-09-22",   # two results
               "/search?member_id=BCN424966657&dos=2026-10-05",   # one result
               "/search?member_id=BCN000000000&dos=2026-10-05",   # no matching claims
               "/search?member_id=&dos=nonsense",                 # the portal refuses the input
               "/claims/CLM-1056"],                               # a denial's detail
}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[BrowserHost]:
    with BrowserHost() as h:
        yield h


def _spec(profile: PayerProfile, portal: PayerPortal) -> dict[str, Field]:
    """Every field a page object reads from a search answer, results table or detail page."""
    sel = profile.selectors
    spec = {**portal.site.markers, "detail": Field(sel.detail.container), **DetailPage.fields(profile)}
    if sel.results is not None:
        spec.update({"results": Field(sel.results.table), **ResultsPage.fields(profile)})
    for name in ("not_found", "no_results", "error"):
        if getattr(sel.search, name):
            spec[name] = Field(getattr(sel.search, name))
    return spec


@pytest.mark.parametrize("payer", ["acme", "beacon"])
def test_lexbor_reads_every_portal_page_like_the_browser(payer: str, settings: Settings, env: MockPortals,
                                                         host: BrowserHost) -> None:
    profile = load_profiles(settings.payers)[payer]
    assert profile.reader == "lexbor"  # as shipped
    portal = PayerPortal(profile, resolve_credentials(profile, payer_environment()), host)
    spec = _spec(profile, portal)

    async def both(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        async with portal.site.lease(label="reader-test") as lease:
            doc = await lease.fetch(portal.site.url(path))
        assert doc.fetched_html is not None
        return read_html(doc.fetched_html, spec), await host.parse(doc.fetched_html, spec)

    read: dict[str, dict[str, Any]] = {}
    for path in PAGES[payer]:
        lexbor, browser = host.run(both(path))
        assert lexbor == browser, path
        read[path] = lexbor
    if payer == "acme":
        denial = read["/search?claim_number=CLM-1025"]
        assert denial["d_status"] == ["Denied"] and "CO-50" in denial["d_carc_code"]
        assert read["/search?claim_number=CLM-1007"]["not_found"] and not read["/claims/CLM-9999"]["detail"]
    else:
        assert [r["claim_id"] for r in read["/search?member_id=BCN563100113&dos=2026-09-22"]["rows"]] == [
            ["CLM-1064"], ["CLM-1065"]]
        assert read["/search?member_id=&dos=nonsense"]["error"]
        assert read["/claims/CLM-1056"]["d_status"] == ["DENIED"]


def test_a_profile_may_have_the_browser_read_fetched_pages(config_dir: Path, settings: Settings) -> None:
    edit_profile(config_dir, "acme", {"reader": '"browser"'})
    profile = load_profiles(Settings(home=settings.home, config_dir=config_dir, _env_file=None).payers)["acme"]
    assert profile.reader == "browser"
    with pytest.raises(ConfigError, match="reader"):
        edit_profile(config_dir, "acme", {"reader": '"regex"'})
        load_profiles(Settings(home=settings.home, config_dir=config_dir, _env_file=None).payers)
