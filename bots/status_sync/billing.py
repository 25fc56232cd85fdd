"""The billing work-queue app for one run: its site pool in the shared browser, sign-in, and the
update flow.

The flow for one update, inside one lease (a signed-in browser context; with its tab in
``mode = "ui"``): open the claim's form → read the current status (and the form's change history,
when the config describes it) → (already there: verified, nothing written) → set status and
note → ``before_save`` (the bot makes its "save submitted" mark durable) → save (``request``:
post the form's fields, hidden ones and the anti-forgery token included; ``ui``: press Save in the
tab) → load the form again → read back status and note → HTML snapshot of the verified form.
The two modes differ only in how the form is loaded and saved; every decision below is the
same. A read-back that does not show both raises ``VerificationFailed``: the update is never
reported done on the strength of a "Saved" message (or an accepting redirect) alone. Decisions that need a person (claim not in billing, status not offered,
save refused, resolution not mapped) come back with a screenshot of the form they were
made on (in request mode the HTML as fetched, rendered in a tab only for that screenshot).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bots.core.browser import BrowserHost, Lease, SiteConfig, SystemPages
from bots.core.errors import LoginFailed, VerificationFailed
from bots.core.evidence import EvidenceFile
from bots.status_sync.config import BillingConfig, BillingCredentials
from bots.status_sync.pages import ClaimForm, ClaimNotFound, EditPage, LoginPage
from bots.status_sync.updates import note_text

__all__ = ["BillingApp", "Synced", "site_config"]

SITE = "billing"


@dataclass
class Synced:
    """What one update came to.

    ``pushed`` and ``verified`` carry the HTML ``snapshot`` of the form as verified; the
    other kinds carry a ``screenshot`` for the exception row.
    """

    kind: Literal["pushed", "verified", "not_found", "not_offered", "refused", "unmapped"]
    before: ClaimForm | None = None
    after: ClaimForm | None = None
    snapshot: EvidenceFile | None = None
    screenshot: EvidenceFile | None = None
    message: str = ""


def site_config(config: BillingConfig, credentials: BillingCredentials) -> SiteConfig:
    system = config.selectors.system
    return SiteConfig(
        name=SITE, base_url=credentials.base_url, concurrency=config.contexts,
        min_interval=config.min_delay_ms / 1000,
        # request: pages are fetched and the form posted without a tab; ui: the form is filled in a tab
        fetch_mode="request" if config.mode == "request" else "page",
        reader="lexbor" if config.mode == "request" else "browser",
        timeout_ms=config.timeout_ms, login_path=config.pages.login, logout_path=config.pages.logout,
        login_marker=config.selectors.login.form,
        system_pages=SystemPages(maintenance=system.maintenance, unavailable=system.unavailable,
                                 captcha=system.captcha))


class BillingApp:
    def __init__(self, config: BillingConfig, credentials: BillingCredentials, host: BrowserHost):
        self.config = config
        self.credentials = credentials
        self.site = host.site(site_config(config, credentials), login=self._sign_in)

    async def _sign_in(self, lease: Lease) -> None:
        creds, names = self.credentials, self.config.credentials
        if creds.username is None or creds.password is None:
            raise LoginFailed(f"no credentials for {self.config.display_name}: set {names.username_env} and "
                              f"{names.password_env} in the environment or .env")
        page = await LoginPage(lease, self.config).open()
        await page.sign_in(creds.username, creds.password)

    async def sync(self, claim_id: str, status: str | None, note: str, *,
                   before_save: Callable[[ClaimForm], Awaitable[None]] | None = None) -> Synced:
        """Bring the claim to ``status`` with ``note``; ``status`` ``None`` only looks (for the
        evidence of an unmapped resolution). ``before_save`` is awaited with the form as read,
        just before Save is pressed: from then on a fault may hide a write that happened."""
        async with self.site.lease(label=claim_id) as lease:
            page = await EditPage.open(lease, self.config, claim_id)
            if isinstance(page, ClaimNotFound):
                return Synced("not_found", screenshot=await page.doc.screenshot("exception"))
            before = page.read()
            self._check_claim(claim_id, before)
            if status is None:
                return Synced("unmapped", before=before, screenshot=await page.doc.screenshot("exception"))
            if before.status == note_text(status):
                # Already there (set by a person, or by this item's own save whose confirmation
                # was lost to a fault; the bot tells them apart by its save mark and the form's
                # history): nothing is written, so a rerun never adds history.
                return Synced("verified", before=before, after=before, snapshot=await page.doc.save_html("verified"))
            if note_text(status) not in before.offered:
                return Synced("not_offered", before=before, screenshot=await page.doc.screenshot("exception"))
            if before_save is not None:
                await before_save(before)
            answer = await page.save(status, note)
            if answer.refused is not None:
                return Synced("refused", before=before, message=answer.refused,
                              screenshot=await answer.doc.screenshot("exception"))
            # The read-back is a fresh load of the form, not the confirmation page: what the
            # app stored, not what it said.
            reloaded = await EditPage.open(lease, self.config, claim_id, read_only=True)
            if isinstance(reloaded, ClaimNotFound):
                raise VerificationFailed(f"billing: claim {claim_id} was not found when its form was reloaded "
                                         f"after the save")
            after = reloaded.read()
            wrong = [what for what, ok in (("status", after.status == note_text(status)),
                                           ("note", after.note == note_text(note))) if not ok]
            if wrong:
                raise VerificationFailed(
                    f"billing: claim {claim_id} read back after the save does not show the new "
                    f"{' and '.join(wrong)} (status now {after.status!r}, wanted {status!r}; "
                    f"save {'confirmed' if answer.confirmed else 'not confirmed'})")
            return Synced("pushed", before=before, after=after, snapshot=await reloaded.doc.save_html("saved"))

    @staticmethod
    def _check_claim(claim_id: str, form: ClaimForm) -> None:
        if form.claim_id.strip().casefold() != claim_id.strip().casefold():
            raise VerificationFailed(f"billing: the form opened for claim {claim_id} shows claim {form.claim_id!r}")
