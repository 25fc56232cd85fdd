"""Payer profiles: ``config/payers/<payer_id>.toml``, validated, with credentials from the environment.

A profile describes one payer's portal completely: where it is, how its search works, how
fast the bot may go, when it is down for maintenance, every selector the page objects use
(so a layout change is a config change), the mapping from the portal's own status words
to X12 277 claim status categories, and how its adjustment reason codes are written.

Credentials never live in a profile. The profile names the environment variables that hold
them (by default ``BOTS_PAYER_<ID>_URL``, ``_USERNAME``, ``_PASSWORD``, ``_TOTP_SECRET``);
their values come from the environment or the ``.env`` file, as ``SecretStr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bots.core.errors import ConfigError
from bots.core.logging import register_secret
from bots.core.pages import LoginSelectors, SiteProfile, SystemSelectors, is_http_url
from bots.core.payers import AppealWindow, Payers, load_payers
from bots.core.settings import environment

__all__ = [
    "PayerCredentials", "PayerProfile", "MaintenanceWindow", "X12_CATEGORY", "load_profiles",
    "normalize_word", "payer_environment", "resolve_credentials",
]

# X12 277 claim status category codes (code list 507) the profiles may map words to.
X12_CATEGORY = re.compile(r"^(A[0-8]|D0|E[0-4]|F[0-4]|P[0-5]|R(1[0-6]|[0-9]))$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEARCH_FIELDS = frozenset({"claim_id", "member_id", "dos", "dos_us"})


def normalize_word(word: str) -> str:
    """How status words are compared: case and runs of whitespace do not matter."""
    return " ".join(word.split()).casefold()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OtpSelectors(_Strict):
    code: str
    submit: str
    error: str


class NavSelectors(_Strict):
    user: str      # shown once signed in: how the bot knows a sign-in worked
    logout: str


class SearchSelectors(_Strict):
    """The search form. The bot goes straight to the URL the form submits (``pages.search``);
    the form's fields are listed so the profile describes the whole page."""

    form: str | None = None
    claim_number: str | None = None
    member_id: str | None = None
    dos: str | None = None
    submit: str
    not_found: str | None = None     # claim-number search: "no claim found"
    no_results: str | None = None    # member + date search: "no matching claims"
    error: str | None = None         # the portal rejected the search input


class ResultsSelectors(_Strict):
    table: str
    row: str
    claim_id: str     # these three are read inside each row
    status: str
    link: str


class DetailSelectors(_Strict):
    container: str
    claim_id: str
    patient_name: str
    member_id: str
    date_of_service: str
    status: str
    status_date: str
    billed: str
    paid: str
    paid_date: str
    check_number: str
    payer_claim_number: str
    remarks: str
    carc_row: str
    carc_code: str
    carc_text: str
    back: str


class Selectors(_Strict):
    login: LoginSelectors
    otp: OtpSelectors | None = None
    nav: NavSelectors
    search: SearchSelectors
    results: ResultsSelectors | None = None
    detail: DetailSelectors
    system: SystemSelectors = SystemSelectors()


class CredentialNames(_Strict):
    """Names of the environment variables holding the URL override and the credentials."""

    url_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    totp_secret_env: str | None = None


class Pages(_Strict):
    """Paths under ``base_url``. ``search`` is the URL the search form submits (GET), with
    ``{claim_id}``, ``{member_id}``, ``{dos}`` (ISO) or ``{dos_us}`` (MM/DD/YYYY) filled in.

    ``detail``, when the portal has one, is a claim's own detail page by claim number
    (``{claim_id}``): a lookup then opens it directly, one request instead of the search and the
    page it leads to, and searches only when the portal has no page there (HTTP 404 or its
    "page not found"), so a claim the portal does not know still shows the search's own answer.
    Leave it out for a portal whose search must be seen (e.g. member and date searches that may
    match several claims)."""

    login: str = "/login"
    search: str
    detail: str | None = None
    logout: str | None = None

    @field_validator("search", "detail")
    @classmethod
    def _known_fields(cls, v: str | None) -> str | None:
        unknown = set(re.findall(r"{(\w*)}", v or "")) - SEARCH_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; use {', '.join(sorted(SEARCH_FIELDS))}")
        return v

    @field_validator("detail")
    @classmethod
    def _by_claim(cls, v: str | None) -> str | None:
        if v is not None and "{claim_id}" not in v:
            raise ValueError("the detail page's path needs {claim_id}")
        return v


class MaintenanceWindow(_Strict):
    """A weekly window in which the portal is down; lookups due then wait for its end."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: time
    end: time      # before ``start``: the window runs past midnight into the next day
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as America/New_York)") from None
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> MaintenanceWindow:
        if self.start == self.end:
            raise ValueError("start and end are the same time")
        return self

    def end_if_inside(self, now: datetime) -> datetime | None:
        """The window's end (UTC, naive, as the store keeps times) if ``now`` (aware) is inside it."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        # A window that crosses midnight belongs to the day it starts on: check yesterday's too.
        for back in (0, 1):
            day = local.date() - timedelta(days=back)
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            start = datetime.combine(day, self.start, zone)
            end_day = day if self.end > self.start else day + timedelta(days=1)
            end = datetime.combine(end_day, self.end, zone)
            if start <= local < end:
                return end.astimezone(UTC).replace(tzinfo=None)
        return None


class CarcParsing(_Strict):
    """How the portal writes an adjustment reason code: ``group`` (CO, PR, …) and ``reason``."""

    pattern: str = r"^(?P<group>CO|CR|OA|PI|PR)-?(?P<reason>[A-Z]?\d{1,3})$"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if not {"group", "reason"} <= set(compiled.groupindex):
            raise ValueError("needs the named groups (?P<group>…) and (?P<reason>…)")
        return v


class PayerProfile(SiteProfile):
    """The shape of ``config/payers/<payer_id>.toml``."""

    id: str = ""  # the file name; set by the loader
    search_flow: Literal["claim_number", "member_dos"]
    fetch_mode: Literal["page", "request"] = "request"
    # Who reads fetched pages (request mode): the browser's DOMParser, or lexbor in the bot's own
    # process (the same selectors and answers, no trip to the browser's one parser tab).
    reader: Literal["browser", "lexbor"] = "browser"
    date_format: str = "%Y-%m-%d"
    not_found_category: Literal["A4", "D0"] = "A4"
    prior_auth_codes: list[str] = Field(default_factory=list)
    appeals: AppealWindow | None = None  # read by the Appeal Preparation sheet, not by this bot
    credentials: CredentialNames = CredentialNames()
    pages: Pages
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    status_map: dict[str, str]
    carc: CarcParsing = CarcParsing()
    selectors: Selectors

    @field_validator("status_map")
    @classmethod
    def _categories(cls, v: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for word, category in v.items():
            if not X12_CATEGORY.match(category):
                raise ValueError(f"status word {word!r} maps to {category!r}, not an X12 claim status category")
            key = normalize_word(word)
            if key in seen:
                raise ValueError(f"status words {seen[key]!r} and {word!r} are the same word")
            seen[key] = word
        return v

    @model_validator(mode="after")
    def _flow_needs(self) -> PayerProfile:
        s = self.selectors
        if self.search_flow == "claim_number":
            if "{claim_id}" not in self.pages.search or not s.search.not_found:
                raise ValueError("search_flow 'claim_number' needs {claim_id} in pages.search "
                                 "and selectors.search.not_found")
        else:
            if not {"{member_id}"} <= set(re.findall(r"{\w+}", self.pages.search)) or not (
                    "{dos}" in self.pages.search or "{dos_us}" in self.pages.search):
                raise ValueError("search_flow 'member_dos' needs {member_id} and {dos} (or {dos_us}) in pages.search")
            if s.results is None or not s.search.no_results:
                raise ValueError("search_flow 'member_dos' needs [selectors.results] and selectors.search.no_results")
        return self

    @property
    def status_words(self) -> dict[str, str]:
        return {normalize_word(w): c for w, c in self.status_map.items()}

    def category_for(self, word: str) -> str | None:
        """The X12 category of a status word, or ``None`` for a word the profile does not know."""
        return self.status_words.get(normalize_word(word))

    def search_path(self, claim_id: str, member_id: str, date_of_service: str) -> str:
        return self._fill(self.pages.search, claim_id, member_id, date_of_service)

    def detail_path(self, claim_id: str, member_id: str, date_of_service: str) -> str | None:
        """The claim's own detail page (``pages.detail``), or ``None`` when the portal has none."""
        if self.pages.detail is None:
            return None
        return self._fill(self.pages.detail, claim_id, member_id, date_of_service)

    @staticmethod
    def _fill(template: str, claim_id: str, member_id: str, date_of_service: str) -> str:
        dos = date.fromisoformat(date_of_service)
        values = {"claim_id": claim_id, "member_id": member_id, "dos": dos.isoformat(),
                  "dos_us": dos.strftime("%m/%d/%Y")}
        return re.sub(r"{(\w+)}", lambda m: quote(values[m.group(1)], safe=""), template)

    def maintenance_end(self, now: datetime) -> datetime | None:
        """When the maintenance window ``now`` (aware) falls in ends (UTC, naive), else ``None``."""
        ends = [e for w in self.maintenance if (e := w.end_if_inside(now)) is not None]
        return max(ends) if ends else None

    def env_name(self, what: Literal["url", "username", "password", "totp_secret"]) -> str:
        configured = getattr(self.credentials, f"{what}_env")
        return configured or f"BOTS_PAYER_{self.id.upper()}_{what.upper()}"


@dataclass(frozen=True)
class PayerCredentials:
    base_url: str
    username: SecretStr | None
    password: SecretStr | None
    totp_secret: SecretStr | None

    @staticmethod
    def needed(needs_totp: bool) -> list[Literal["username", "password", "totp_secret"]]:
        """The credentials a portal's sign-in takes."""
        return ["username", "password", *(["totp_secret"] if needs_totp else [])]  # type: ignore[list-item]

    def missing(self, needs_totp: bool) -> list[Literal["username", "password", "totp_secret"]]:
        return [n for n in self.needed(needs_totp) if getattr(self, n) is None]


payer_environment = environment  # the environment over .env, as Settings reads it


def resolve_credentials(profile: PayerProfile, environ: Mapping[str, str]) -> PayerCredentials:
    """The profile's base URL (or its override) and credentials; secrets are registered with
    the log scrubber so they can never show up in a log line."""

    def secret(what: Literal["username", "password", "totp_secret"]) -> SecretStr | None:
        value = environ.get(profile.env_name(what), "").strip()
        if not value:
            return None
        if what != "username":
            register_secret(value)
        return SecretStr(value)

    url = environ.get(profile.env_name("url"), "").strip() or profile.base_url
    if not is_http_url(url):
        raise ConfigError(f"{profile.env_name('url')}: expected an http(s) URL (value: {url!r})")
    return PayerCredentials(url.rstrip("/"), secret("username"), secret("password"), secret("totp_secret"))


def load_profiles(payers: Payers | Path) -> dict[str, PayerProfile]:
    """Every payer file as a portal profile, by payer id (the file name, lower case).

    ``payers`` is ``settings.payers`` (read once, shared fields validated by ``bots.core.payers``)
    or a folder to read; each document is then validated whole as a ``PayerProfile``."""
    if isinstance(payers, Path):
        payers = load_payers(payers)
    if not payers.folder_exists:
        raise ConfigError(f"{payers.folder}: folder not found (one <payer_id>.toml per payer)")
    return {pid: f.parse(PayerProfile).model_copy(update={"id": pid}) for pid, f in payers.items()}
