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
from bots.core.pages import SignInForm, SiteLabel, require_fields, unrecognised
from bots.status_sync.config import BILLING_FILE, BillingConfig

__all__ = ["ClaimForm", "ClaimNotFound", "Change", "EditPage", "LoginPage", "SaveAnswer"]


def _site(config: BillingConfig) -> SiteLabel:
    names = config.credentials
    return SiteLabel(name="billing", display=config.display_name, config_file=f"config/{BILLING_FILE}",
                     username_env=names.username_env, password_env=names.password_env)


def _require(doc: Document, fields: Mapping[str, Field], page: str, config: BillingConfig) -> None:
    require_fields(doc, fields, page, _site(config), "billing app")


class LoginPage:
    """The sign-in form."""

    def __init__(self, lease: Lease, config: BillingConfig):
        self.lease = lease
        self.config = config
        self.form = SignInForm(lease, config.selectors.login, signed_in=config.selectors.nav.user,
                               site=_site(config), what="billing app")

    async def open(self) -> LoginPage:
        await self.form.open(self.lease.site.url(self.config.pages.login))
        return self

    async def sign_in(self, username: SecretStr, password: SecretStr) -> None:
        doc = await self.form.submit(username, password)
        if not doc.has("signed_in"):
            raise unrecognised(doc, "page after sign-in", self.form.answers, _site(self.config), "billing app")


@dataclass(frozen=True)
class Change:
    """One row of the form's change history: who moved the claim from which status to which."""

    user: str
    from_status: str
    status: str
    note: str


@dataclass(frozen=True)
class ClaimForm:
    """What a claim's status form shows (text with runs of whitespace collapsed)."""

    claim_id: str
    status: str
    note: str
    offered: tuple[str, ...]   # the statuses the dropdown offers, in its order
    history: tuple[Change, ...] | None = None   # oldest first; None: no history the config can read


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
        spec = {**cls.fields(config), **cls._history_fields(config),
                "not_found": Field(config.selectors.system.not_found)}
        url = lease.site.url(config.edit_path(claim_id))
        doc = await (lease.fetch(url, spec) if read_only else lease.open(url, spec))
        if doc.has("not_found") or doc.status == 404:
            return ClaimNotFound(doc)
        _require(doc, cls.fields(config), "claim status form", config)
        return cls(lease, config, doc)

    @staticmethod
    def _history_fields(config: BillingConfig) -> dict[str, Field]:
        """Read when configured, never required: a form without history is still a form."""
        sel = config.selectors.history
        if sel is None:
            return {}
        cells = {"user": Field(sel.user), "from_status": Field(sel.from_status), "status": Field(sel.status),
                 "note": Field(sel.note)}
        return {"history_table": Field(sel.table), "history": Field(sel.row, rows=cells)}

    def read(self) -> ClaimForm:
        doc = self.doc
        history = None
        if doc.has("history_table"):
            history = tuple(Change(**{k: (row.get(k) or [""])[0] for k in ("user", "from_status", "status", "note")})
                            for row in doc.rows("history"))
        return ClaimForm(claim_id=doc.text("claim_id") or "", status=doc.text("current_status") or "",
                         note=doc.text("note") or "", offered=tuple(doc.texts("options")), history=history)

    async def save(self, status: str, note: str) -> SaveAnswer:
        """Choose ``status``, replace the note, press Save; read where that leads."""
        with translate_errors("billing: filling the claim status form"):
            await self.status.select_option(label=status)
            await self.note.fill(note)
        doc = await self.lease.submit(self.save_button.click, self._answer)
        return SaveAnswer(doc, confirmed=doc.has("saved"), refused=doc.text("error") if doc.has("error") else None)
