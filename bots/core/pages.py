"""Page-object pieces every site the bots sign in to shares (payer portals, the billing app).

A site's config says where its elements are (:class:`LoginSelectors`, :class:`SystemSelectors`);
:class:`SignInForm` fills and submits a username/password form and turns the site's answer
into ``LoginFailed`` or the next page; :func:`require_fields` checks a page has what a page
object relies on, so a layout change fails at once with ``SelectorMissing`` naming the page,
the selectors and the config file to change, instead of waiting for a timeout.
"""

from __future__ import annotations

from collections.abc import Mapping

import re

from pydantic import BaseModel, ConfigDict, Field as ModelField, SecretStr, field_validator

from bots.core.browser import Document, Field, Lease, translate_errors
from bots.core.errors import LoginFailed, SelectorMissing

__all__ = [
    "LoginSelectors", "SignInForm", "SiteLabel", "SiteProfile", "SystemSelectors", "is_http_url", "require_fields",
    "unrecognised",
]

_HTTP_URL = re.compile(r"^https?://[^/\s]+")


def is_http_url(url: str) -> bool:
    return bool(_HTTP_URL.match(url))


class SiteProfile(BaseModel):
    """What every site's config file says about reaching it politely: where it is, how many
    browser contexts may work it at once, the pause between requests, the page timeout."""

    model_config = ConfigDict(extra="forbid")

    display_name: str
    base_url: str
    concurrency: int = ModelField(4, ge=1, le=32)
    min_delay_ms: int = ModelField(0, ge=0, le=60_000)
    timeout_ms: int = ModelField(15_000, ge=1_000, le=300_000)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not is_http_url(v):
            raise ValueError("expected an http(s) URL")
        return v.rstrip("/")


class LoginSelectors(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form: str
    username: str
    password: str
    submit: str
    error: str
    locked: str
    session_expired: str | None = None


class SystemSelectors(BaseModel):
    """Pages a site shows instead of the one asked for; the same in every layout."""

    model_config = ConfigDict(extra="forbid")

    maintenance: str = "#maintenance-notice"
    unavailable: str = "#service-unavailable"
    captcha: str = "#captcha-challenge"
    not_found: str = "#page-not-found"


class SiteLabel(BaseModel):
    """How messages name a site: ``name`` (``acme``), ``display`` (``Acme Health Plan``), the
    config file that holds its selectors, and the environment variables of its credentials."""

    name: str
    display: str
    config_file: str
    username_env: str
    password_env: str

    def fix_hint(self, what: str = "site") -> str:
        return f"Has the {what}'s layout changed? Update [selectors] in {self.config_file}"


def require_fields(doc: Document, fields: Mapping[str, Field], page: str, site: SiteLabel, what: str = "site") -> None:
    """``SelectorMissing`` unless every field matched (and every selector is valid CSS)."""
    invalid = doc.invalid_selectors()
    if invalid:
        raise SelectorMissing(f"{site.name} {page} page: {invalid[0]!r} is not a valid CSS selector; "
                              f"fix [selectors] in {site.config_file}")
    missing = [f"{name} ({f.selector})" for name, f in fields.items() if not doc.has(name)]
    if missing:
        raise SelectorMissing(f"{site.name} {page} page ({doc.path}): not found: {', '.join(missing)}. "
                              f"{site.fix_hint(what)}")


def unrecognised(doc: Document, page: str, expected: Mapping[str, Field], site: SiteLabel,
                 what: str = "site") -> SelectorMissing:
    """The page shows none of the elements that would say where we are."""
    shown = ", ".join(f"{name} ({f.selector})" for name, f in expected.items())
    return SelectorMissing(f"{site.name} {page} ({doc.path}) shows none of: {shown}. {site.fix_hint(what)}")


class SignInForm:
    """A username/password form. ``answers`` are the elements that tell what came after a
    submit (``signed_in`` always; a site may add e.g. its one-time-code step)."""

    def __init__(self, lease: Lease, selectors: LoginSelectors, *, signed_in: str, site: SiteLabel,
                 answers: Mapping[str, Field] | None = None, what: str = "site"):
        self.lease = lease
        self.site = site
        self.what = what
        self.username = lease.tab.locator(selectors.username)
        self.password = lease.tab.locator(selectors.password)
        self.submit_button = lease.tab.locator(selectors.submit)
        self.form = {"form": Field(selectors.form), "username": Field(selectors.username),
                     "password": Field(selectors.password), "submit": Field(selectors.submit)}
        self.answers = {"error": Field(selectors.error), "locked": Field(selectors.locked),
                        "signed_in": Field(signed_in), **(answers or {})}

    async def open(self, url: str) -> SignInForm:
        doc = await self.lease.goto(url, self.form, signed_in=False)
        require_fields(doc, self.form, "sign-in", self.site, self.what)
        return self

    async def submit(self, username: SecretStr, password: SecretStr, *, unlock_hint: str = "") -> Document:
        """Fill and submit; a locked account or refused credentials raise ``LoginFailed``
        (not retried: hammering a portal with a bad password locks the account)."""
        with translate_errors(f"{self.site.name}: filling the sign-in form"):
            await self.username.fill(username.get_secret_value())
            await self.password.fill(password.get_secret_value())
        doc = await self.lease.submit(self.submit_button.click, self.answers, signed_in=False)
        if doc.has("locked"):
            raise LoginFailed(f"{self.site.display} says the robot account is locked; have it unlocked"
                              f"{unlock_hint}, then run again")
        if doc.has("error"):
            raise LoginFailed(f"{self.site.display} refused the username or password "
                              f"(check {self.site.username_env} and {self.site.password_env})")
        return doc
