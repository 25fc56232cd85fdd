"""One payer's portal for one run: its site pool in the shared browser, sign-in, and the lookup flow.

The flow for one claim, inside one lease (a signed-in browser context):
(the claim's own detail page, where the profile has one) or search → (results → the only row)
→ detail → read → route; then the HTML snapshot, and a screenshot when the route raises
exceptions. A fetched page (request mode) is its own evidence, so it is saved and rendered after
the context went back to the pool; a tab (page mode) is saved and shot while the lease is held,
so the picture shows exactly the page the decision was made on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyotp

from bots.core.browser import BrowserHost, Document, Lease, SiteConfig, SystemPages
from bots.core.claims import Claim
from bots.core.errors import LoginFailed
from bots.core.evidence import EvidenceFile
from bots.payer_portal.claim_status import PortalClaimStatus
from bots.payer_portal.pages import LoginPage, NoMatch, OtpPage, ResultsPage, SearchPage
from bots.payer_portal.profile import PayerCredentials, PayerProfile
from bots.payer_portal.routing import Decision, Lookup

__all__ = ["Checked", "PayerPortal", "site_config"]


@dataclass
class Checked:
    """One finished lookup: what was found, what it means, and the evidence."""

    lookup: Lookup
    decision: Decision
    snapshot: EvidenceFile            # the HTML of the page the decision was made on
    screenshot: EvidenceFile | None   # a PNG of it, when the decision raised exceptions or a fault


def site_config(profile: PayerProfile, credentials: PayerCredentials) -> SiteConfig:
    sel = profile.selectors
    return SiteConfig(
        name=profile.id, base_url=credentials.base_url, concurrency=profile.concurrency,
        min_interval=profile.min_delay_ms / 1000, fetch_mode=profile.fetch_mode, reader=profile.reader,
        timeout_ms=profile.timeout_ms,
        login_path=profile.pages.login, logout_path=profile.pages.logout,
        # Signed out: the sign-in form, or the code step of a sign-in that stopped half way.
        login_marker=", ".join([sel.login.form] + ([sel.otp.code] if sel.otp else [])),
        system_pages=SystemPages(maintenance=sel.system.maintenance, unavailable=sel.system.unavailable,
                                 captcha=sel.system.captcha))


class PayerPortal:
    def __init__(self, profile: PayerProfile, credentials: PayerCredentials, host: BrowserHost):
        self.profile = profile
        self.credentials = credentials
        self.site = host.site(site_config(profile, credentials), login=self._sign_in)

    async def _sign_in(self, lease: Lease) -> None:
        profile, creds = self.profile, self.credentials
        missing = creds.missing(needs_totp=profile.selectors.otp is not None)
        if missing:
            names = ", ".join(profile.env_name(m) for m in missing)
            raise LoginFailed(f"no credentials for {profile.display_name}: set {names} in the environment or .env")
        assert creds.username is not None and creds.password is not None
        page = await LoginPage(lease, profile).open()
        after = await page.sign_in(creds.username, creds.password)
        if isinstance(after, OtpPage):
            assert creds.totp_secret is not None
            await after.verify(pyotp.TOTP(creds.totp_secret.get_secret_value()).now())

    async def check(self, claim: Claim, decide: Callable[[Lookup], Decision]) -> Checked:
        async with self.site.lease(label=claim.claim_id) as lease:
            lookup, doc = await self._look_up(lease, claim)
            decision = decide(lookup)
            if doc.fetched_html is None:  # the tab shows the page only while the lease is held
                return await self._evidence(lookup, decision, doc)
        # Rendering a fetched page needs no context: the next lookup may have it meanwhile.
        return await self._evidence(lookup, decision, doc)

    @staticmethod
    async def _evidence(lookup: Lookup, decision: Decision, doc: Document) -> Checked:
        snapshot = await doc.save_html(lookup.page)
        shoot = decision.exceptions or decision.fault
        screenshot = await doc.screenshot("fault" if decision.fault else "exception") if shoot else None
        return Checked(lookup, decision, snapshot, screenshot)

    async def _look_up(self, lease: Lease, claim: Claim) -> tuple[Lookup, Document]:
        search = SearchPage(lease, self.profile)
        direct = await search.open_detail(claim) if self.profile.pages.detail else None
        landed = direct or await search.search(claim)
        if isinstance(landed, NoMatch):
            return Lookup("not_found", page="search"), landed.doc
        if isinstance(landed, ResultsPage):
            rows = landed.rows()
            if len(rows) > 1:  # several claims for one member and date: never take the first row
                return Lookup("ambiguous", page="results", candidates=[r.claim_id for r in rows]), landed.doc
            landed = await landed.open_result(rows[0])
        status = landed.read()
        return self._identify(claim, status), landed.doc

    def _identify(self, claim: Claim, status: PortalClaimStatus) -> Lookup:
        """The detail page must be this claim: same claim number, member id and date of service."""
        if status.claim_id.strip().casefold() != claim.claim_id.strip().casefold():
            return Lookup("mismatch", page="detail", status=status, mismatch="claim number",
                          candidates=[status.claim_id])
        if status.member_id.strip().casefold() != claim.member_id.strip().casefold():
            return Lookup("mismatch", page="detail", status=status, mismatch="member id")
        if status.date_of_service is None or status.date_of_service.isoformat() != claim.date_of_service:
            return Lookup("mismatch", page="detail", status=status, mismatch="date of service")
        return Lookup("found", page="detail", status=status)
