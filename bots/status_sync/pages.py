"""Page objects for the billing work-queue app, driven entirely by ``config/billing.toml``.

Each class wraps a signed-in :class:`~bots.core.browser.Lease` (the app is worked in a tab:
``fetch_mode = "page"``), builds its locators from the configured selectors, offers intent
methods (``sign_in``, ``read``, ``save``) and returns the next page object when it
navigates. A layout change of the app is therefore a change to ``[selectors]``.

Pages are read with :class:`~bots.core.browser.Field` specs, one round trip per page. Every
element a page object relies on is checked before use: an absent one raises
``SelectorMissing`` at once, naming the page and the selectors, instead of waiting for a
timeout. Playwright's own errors are translated by the lease (``bots.core.browser``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from bots.core.browser import Document, Field, Lease, translate_errors
from bots.core.errors import LoginFailed, SelectorMissing
from bots.status_sync.config import BILLING_FILE, BillingConfig

__all__ = ["ClaimForm", "ClaimNotFound", "EditPage", "LoginPage", "SaveAnswer"]


def _require(doc: Document, fields: Mapping[str, Field], page: str) -> None:
    """``SelectorMissing`` unless every field matched (and every selector is valid CSS)."""
    invalid = doc.invalid_selectors()
    if invalid:
        raise SelectorMissing(f"billing {page} page: {invalid[0]!r} is not a valid CSS selector; "
                              f"fix [selectors] in config/{BILLING_FILE}")
    missing = [f"{name} ({f.selector})" for name, f in fields.items() if not doc.has(name)]
    if missing:
        raise SelectorMissing(f"billing {page} page ({doc.path}): not found: {', '.join(missing)}. "
                              f"Has the billing app's layout changed? Update [selectors] in config/{BILLING_FILE}")


class LoginPage:
    """The sign-in form."""

    def __init__(self, lease: Lease, config: BillingConfig):
        self.lease = lease
        self.config = config
        sel = config.selectors.login
        self.username = lease.tab.locator(sel.username)
        self.password = lease.tab.locator(sel.password)
        self.submit = lease.tab.locator(sel.submit)
        self._form = {"form": Field(sel.form), "username": Field(sel.username), "password": Field(sel.password),
                      "submit": Field(sel.submit)}
        self._answer = {"error": Field(sel.error), "locked": Field(sel.locked),
                        "signed_in": Field(config.selectors.nav.user)}

    async def open(self) -> LoginPage:
        doc = await self.lease.goto(self.lease.site.url(self.config.pages.login), self._form, signed_in=False)
        _require(doc, self._form, "sign-in")
        return self

    async def sign_in(self, username: SecretStr, password: SecretStr) -> None:
        names = self.config.credentials
        with translate_errors("billing: filling the sign-in form"):
            await self.username.fill(username.get_secret_value())
            await self.password.fill(password.get_secret_value())
        doc = await self.lease.submit(self.submit.click, self._answer, signed_in=False)
        if doc.has("locked"):
            raise LoginFailed(f"{self.config.display_name} says the robot account is locked; have it unlocked, "
                              f"then run again")
        if doc.has("error"):
            raise LoginFailed(f"{self.config.display_name} refused the username or password "
                              f"(check {names.username_env} and {names.password_env})")
        if not doc.has("signed_in"):
            shown = ", ".join(f"{k} ({f.selector})" for k, f in self._answer.items())
            raise SelectorMissing(f"billing page after sign-in ({doc.path}) shows none of: {shown}. Has the "
                                  f"billing app's layout changed? Update [selectors] in config/{BILLING_FILE}")


@dataclass(frozen=True)
class ClaimForm:
    """What a claim's status form shows (text with runs of whitespace collapsed)."""

    claim_id: str
    status: str
    note: str
    offered: tuple[str, ...]   # the statuses the dropdown offers, in its order


@dataclass
class ClaimNotFound:
    """The app's "not found" page for a claim it does not have."""

    doc: Document


@dataclass
class SaveAnswer:
    """The page a save led to: the confirmation, or the app's refusal."""

    doc: Document
    confirmed: bool
    refused: str | None


class EditPage:
    """A claim's status form: current status, the status dropdown, the note, Save."""

    def __init__(self, lease: Lease, config: BillingConfig, doc: Document):
        self.lease = lease
        self.config = config
        self.doc = doc
        sel = config.selectors.edit
        self.status = lease.tab.locator(sel.status)
        self.note = lease.tab.locator(sel.note)
        self.save_button = lease.tab.locator(sel.save)
        self._answer = {"saved": Field(sel.saved), "error": Field(sel.error)}

    @staticmethod
    def fields(config: BillingConfig) -> dict[str, Field]:
        sel = config.selectors.edit
        return {"form": Field(sel.form), "claim_id": Field(sel.claim_id), "current_status": Field(sel.current_status),
                "status": Field(sel.status), "options": Field(sel.status_option), "note": Field(sel.note),
                "save": Field(sel.save)}

    @classmethod
    async def open(cls, lease: Lease, config: BillingConfig, claim_id: str, *,
                   read_only: bool = False) -> EditPage | ClaimNotFound:
        """Load the claim's form (signing in again if the session ended). ``read_only`` fetches it
        through the context's request API instead of the tab: the HTML exactly as the app sent it,
        without rendering it (a read-back needs no form to fill)."""
        spec = {**cls.fields(config), "not_found": Field(config.selectors.system.not_found)}
        url = lease.site.url(config.edit_path(claim_id))
        doc = await (lease.fetch(url, spec) if read_only else lease.open(url, spec))
        if doc.has("not_found") or doc.status == 404:
            return ClaimNotFound(doc)
        _require(doc, cls.fields(config), "claim status form")
        return cls(lease, config, doc)

    def read(self) -> ClaimForm:
        doc = self.doc
        return ClaimForm(claim_id=doc.text("claim_id") or "", status=doc.text("current_status") or "",
                         note=doc.text("note") or "", offered=tuple(doc.texts("options")))

    async def save(self, status: str, note: str) -> SaveAnswer:
        """Choose ``status``, replace the note, press Save; read where that leads."""
        with translate_errors("billing: filling the claim status form"):
            await self.status.select_option(label=status)
            await self.note.fill(note)
        doc = await self.lease.submit(self.save_button.click, self._answer)
        return SaveAnswer(doc, confirmed=doc.has("saved"), refused=doc.text("error") if doc.has("error") else None)
