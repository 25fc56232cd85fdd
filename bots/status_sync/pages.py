"""Page objects for the billing work-queue app, driven entirely by ``config/billing.toml``.

Each class wraps a signed-in :class:`~bots.core.browser.Lease`, builds its locators from the
configured selectors, offers intent methods (``sign_in``, ``read``, ``save``) and returns the
next page object when it navigates. A layout change of the app is therefore a change to
``[selectors]``.

The claim form is worked the way ``mode`` says. ``request``: pages are fetched through the
context's request API (no tab) and a save posts the form as the page holds it (every field,
hidden ones and the anti-forgery token included, :mod:`bots.status_sync.forms`) with the new
status and note. ``ui``: pages load in the lease's tab, which fills the form and presses Save.
Sign-in is always a tab (the pool's sign-in context), and an exception's screenshot of a
fetched page renders its HTML.

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
from bots.core.errors import SelectorMissing, SystemFault
from bots.core.pages import SignInForm, SiteLabel, require_fields, unrecognised
from bots.status_sync.config import BILLING_FILE, BillingConfig
from bots.status_sync.forms import read_form

__all__ = ["ClaimForm", "ClaimNotFound", "Change", "EditPage", "LoginPage", "SaveAnswer"]


def _site(config: BillingConfig) -> SiteLabel:
    names = config.credentials
    return SiteLabel(name="billing", display=config.display_name, config_file=f"config/{BILLING_FILE}",
                     username_env=names.username_env, password_env=names.password_env)


# An answer that refuses the post itself, not its content: the anti-forgery check (403; Laravel's
# "page expired" 419). The bot posts the token it has just read, so this is a session that moved
# under it: the item is retried (the form is read again), never sent to a coder as refused.
_FORGERY_REFUSED = (403, 419)


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
        """Set ``status`` and the note and save, the way ``mode`` says; read the app's answer."""
        doc = await (self._post(status, note) if self.config.mode == "request" else self._press_save(status, note))
        if doc.status in _FORGERY_REFUSED:
            raise SystemFault(f"billing refused the claim form itself (HTTP {doc.status} on {doc.path}: "
                              f"{doc.text('error') or 'no message'}); it is read again and saved on the retry")
        redirected = 300 <= doc.status < 400  # post/redirect/get: the app accepted the post
        return SaveAnswer(doc, confirmed=doc.has("saved") or redirected,
                          refused=doc.text("error") if doc.has("error") else None)

    async def _press_save(self, status: str, note: str) -> Document:
        """UI: choose ``status``, replace the note, press Save in the tab."""
        sel, tab = self.config.selectors.edit, self.lease.tab
        with translate_errors("billing: filling the claim status form"):
            await tab.locator(sel.status).select_option(label=status)
            await tab.locator(sel.note).fill(note)
        return await self.lease.submit(tab.locator(sel.save).click, self._answer)

    async def _post(self, status: str, note: str) -> Document:
        """Request level: the form as the page holds it, status and note replaced, posted."""
        sel = self.config.selectors.edit
        html = await self.doc.html()
        form = read_form(html, self.doc.url, sel.form, {"status": sel.status, "note": sel.note}, submitter=sel.save)
        problem = None
        if form is None:
            problem = f"no form matches {sel.form!r}"
        elif form.method != "post" or form.enctype != "application/x-www-form-urlencoded":
            problem = f"the form is not a plain POST (method {form.method!r}, enctype {form.enctype!r})"
        elif missing := [f"{key} ({getattr(sel, key)!r})" for key in ("status", "note") if key not in form.names]:
            problem = f"no named field in the form for {', '.join(missing)}"
        if problem is not None or form is None:
            raise SelectorMissing(f"billing claim status form ({self.doc.path}): {problem}, so it cannot be saved at "
                                  f"request level. {_site(self.config).fix_hint('billing app')}, or set "
                                  f'mode = "ui" there if the form needs its JavaScript')
        value = form.option_value(form.names["status"], " ".join(status.split()))
        if value is None:
            raise SelectorMissing(f"billing claim status form ({self.doc.path}): the status dropdown "
                                  f"{sel.status!r} has no option {status!r} in the form's HTML")
        entries = form.entries({form.names["status"]: value, form.names["note"]: note})
        return await self.lease.post(form.action, entries, self._answer, referer=self.doc.url)
