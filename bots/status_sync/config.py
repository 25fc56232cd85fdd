"""``config/billing.toml``: the billing work-queue app, validated, with credentials from the environment.

The file describes the app completely: where it is, how fast the bot may go, how the claim form
is submitted (``mode``), every URL and selector the page objects use (so a layout change is a
config change), and the mapping from a coder's Resolution to the billing status it means.

Credentials never live in the file. It names the environment variables that hold them
(by default ``BOTS_BILLING_URL``, ``BOTS_BILLING_USERNAME``, ``BOTS_BILLING_PASSWORD``);
their values come from the environment or the ``.env`` file, as ``SecretStr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bots.core.errors import ConfigError
from bots.core.logging import register_secret
from bots.core.pages import LoginSelectors, SiteProfile, SystemSelectors, is_http_url
from bots.core.settings import Settings, environment, load_toml_model

__all__ = [
    "BILLING_FILE", "BillingConfig", "BillingCredentials", "SubmitMode", "billing_environment", "load_billing_config",
    "resolve_credentials",
]

BILLING_FILE = "billing.toml"

SubmitMode = Literal["request", "ui"]
"""How the claim form is submitted: ``request`` reads the form's HTML (hidden fields and any
security token included) and posts it through the signed-in session, with no tab and no
rendering, so many updates are in flight at once; ``ui`` fills it in a browser tab and presses
Save, for an app whose form only works with its JavaScript. Both read the form back to verify."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NavSelectors(_Strict):
    user: str  # shown once signed in


class EditSelectors(_Strict):
    form: str
    claim_id: str
    current_status: str
    status: str            # the <select>
    status_option: str     # its options: the statuses on offer
    note: str
    save: str
    saved: str             # the "Saved" confirmation
    error: str             # the app refused the save


class HistorySelectors(_Strict):
    """The claim form's change history, one row per save (optional: an app without one, or a
    layout the config does not describe, leaves who made a change unknown)."""

    table: str             # present whenever the app shows history, even with no rows
    row: str               # one change
    user: str              # inside a row: who saved it
    from_status: str
    status: str
    note: str


class Selectors(_Strict):
    login: LoginSelectors
    nav: NavSelectors
    edit: EditSelectors
    history: HistorySelectors | None = None
    system: SystemSelectors = SystemSelectors()


class CredentialNames(_Strict):
    """Names of the environment variables holding the URL override and the credentials."""

    url_env: str = "BOTS_BILLING_URL"
    username_env: str = "BOTS_BILLING_USERNAME"
    password_env: str = "BOTS_BILLING_PASSWORD"


class Pages(_Strict):
    """Paths under ``base_url``; ``edit`` holds ``{claim_id}``."""

    login: str = "/login"
    edit: str
    logout: str | None = None

    @field_validator("edit")
    @classmethod
    def _claim_placeholder(cls, v: str) -> str:
        placeholders = set(re.findall(r"{(\w*)}", v))
        if placeholders != {"claim_id"}:
            raise ValueError("needs {claim_id} and no other placeholder")
        return v


class BillingConfig(SiteProfile):
    """The shape of ``config/billing.toml``."""

    display_name: str = "Billing work queue"
    mode: SubmitMode = "request"
    # Updates in flight at once in request mode (each a browser context without a tab: cheap).
    # ``concurrency`` is the number of tabs in ui mode, where every context renders pages.
    request_concurrency: int = Field(16, ge=1, le=32)
    note_max_length: int = Field(1000, ge=80, le=100_000)
    no_billing_change: list[str] = Field(default_factory=list)
    credentials: CredentialNames = CredentialNames()
    pages: Pages
    resolutions: dict[str, str]
    selectors: Selectors

    @field_validator("resolutions")
    @classmethod
    def _statuses(cls, v: dict[str, str]) -> dict[str, str]:
        for resolution, status in v.items():
            if not status.strip():
                raise ValueError(f"resolution {resolution!r} maps to an empty status; list it in "
                                 f"no_billing_change if it needs no billing update")
        return v

    @model_validator(mode="after")
    def _one_meaning(self) -> BillingConfig:
        both = sorted(set(self.resolutions) & set(self.no_billing_change))
        if both:
            raise ValueError(f"resolution {both[0]!r} is both in [resolutions] and in no_billing_change")
        return self

    @property
    def contexts(self) -> int:
        """Browser contexts working the app at once, for the submit mode in force."""
        return self.request_concurrency if self.mode == "request" else self.concurrency

    def edit_path(self, claim_id: str) -> str:
        return self.pages.edit.replace("{claim_id}", quote(claim_id, safe=""))

    def status_for(self, resolution: str) -> str | None:
        """The billing status a resolution means; ``None`` when it is not mapped (or needs none)."""
        return self.resolutions.get(resolution)

    def unmapped(self, choices: Mapping[str, list[str]]) -> list[str]:
        """Resolution choices (queue → choices, from config/workbook.toml) this file does not cover."""
        known = set(self.resolutions) | set(self.no_billing_change)
        return sorted({c for cs in choices.values() for c in cs} - known)


@dataclass(frozen=True)
class BillingCredentials:
    base_url: str
    username: SecretStr | None
    password: SecretStr | None


billing_environment = environment  # the environment over .env, as Settings reads it


def resolve_credentials(config: BillingConfig, environ: Mapping[str, str]) -> BillingCredentials:
    """The base URL (or its override) and the credentials; the password is registered with the
    log scrubber so it can never show up in a log line."""
    names = config.credentials

    def secret(name: str, *, mask: bool) -> SecretStr | None:
        value = environ.get(name, "").strip()
        if not value:
            return None
        if mask:
            register_secret(value)
        return SecretStr(value)

    url = environ.get(names.url_env, "").strip() or config.base_url
    if not is_http_url(url):
        raise ConfigError(f"{names.url_env}: expected an http(s) URL (value: {url!r})")
    return BillingCredentials(url.rstrip("/"), secret(names.username_env, mask=False),
                              secret(names.password_env, mask=True))


def load_billing_config(settings: Settings) -> BillingConfig:
    """``config/billing.toml``, validated; errors name the file and the key."""
    return load_toml_model(settings.config_file(BILLING_FILE), BillingConfig)

