"""The two kinds of trouble a bot can meet, and the families under them.

Like UiPath's and Robocorp's business/system exception split: a
``BusinessException`` means the rules cannot decide and a person must look
(never retried); a ``SystemFault`` means something broke and trying again may
help. Third-party errors (Playwright, SQLAlchemy, openpyxl) are translated into
these at the boundary so nothing above a page object imports a library's
private error types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "BotError",
    "BusinessException",
    "ExceptionRecord",
    "SystemFault",
    "PortalTimeout",
    "PortalUnavailable",
    "SiteUnreachable",
    "SiteOutage",
    "PortalError",
    "SessionExpired",
    "SelectorMissing",
    "LoginFailed",
    "CaptchaChallenge",
    "VerificationFailed",
    "ItemDeferred",
    "ConfigError",
    "InputError",
    "SetupProblem",
    "SetupError",
]


class BotError(Exception):
    """Root of every error a bot raises on purpose."""


@dataclass
class ExceptionRecord:
    """One row for the exception workbook, as a bot decided it.

    ``detail`` feeds the deterministic Exception ID together with bot, rule,
    claim and line, so the same finding on a rerun lands on the same row.
    """

    queue: str
    rule_id: str
    reason: str
    rule_version: str = "1"
    line_no: int | None = None
    detail: str = ""
    evidence: str = ""
    evidence_file: str | None = None
    review_level: str = "Entry"
    priority: str = "Normal"
    amount: float | None = None
    claim_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class BusinessException(BotError):
    """The rules cannot decide: route to a person, never retry.

    Raising it is the same as returning an ``Outcome`` with these exception rows: the runner
    turns one into the other, so ``intents`` (``bots.core.store.intents``) a bot decided
    before it found the problem are written either way.
    """

    def __init__(self, record: ExceptionRecord | list[ExceptionRecord], *, intents: Sequence[Any] = ()):
        self.records = record if isinstance(record, list) else [record]
        self.intents = list(intents)
        first = self.records[0]
        super().__init__(f"{first.rule_id}: {first.reason}")


class SystemFault(BotError):
    """Something broke; the retry policy may try again.

    ``retryable = False`` marks faults that no amount of retrying fixes
    (a CAPTCHA needs a human): they go straight to Bot Failures.
    ``screenshot`` is the evidence file captured when it happened, if any.
    """

    retryable: bool = True

    def __init__(self, message: str, *, screenshot: str | None = None):
        super().__init__(message)
        self.screenshot = screenshot


class PortalTimeout(SystemFault):
    """A page or element did not answer in time."""


class PortalUnavailable(SystemFault):
    """The portal answered with an HTTP 5xx or could not be reached."""


class SiteUnreachable(PortalUnavailable):
    """No answer at all: connection refused or reset, a name that does not resolve.

    ``site`` is the site's name, set by its site pool; past the retry budget the runner takes
    it for a ``SiteOutage`` of that site."""

    site: str | None = None


class SiteOutage(SystemFault):
    """A site stopped answering for this run (connection refused, DNS, every request 5xx past
    the retry budget). Not the item's fault: the item goes back to the queue untouched (its
    attempt refunded), never to Bot Failures, and the run ends ``degraded``."""

    retryable = False  # retrying in-process is what already failed

    def __init__(self, site: str, message: str, *, screenshot: str | None = None):
        super().__init__(message, screenshot=screenshot)
        self.site = site


class PortalError(SystemFault):
    """The portal reported a system or request error (X12 category E0-E4)."""


class SessionExpired(SystemFault):
    """The portal sent us back to its login page mid-session."""


class SelectorMissing(SystemFault):
    """An element the page object expects is not on the page (layout changed?)."""


class LoginFailed(SystemFault):
    """The portal refused the robot's credentials or locked the account."""

    retryable = False


class CaptchaChallenge(SystemFault):
    """The portal asks to prove a human is there: a person must do this one."""

    retryable = False


class VerificationFailed(SystemFault):
    """An update was written but reading it back did not show it."""


class ItemDeferred(BotError):
    """Not now, not a failure: e.g. a payer maintenance window. Retry next run
    without spending an attempt."""

    def __init__(self, reason: str, *, until: datetime | None = None):
        super().__init__(reason)
        self.until = until


class ConfigError(BotError):
    """A configuration file or setting is invalid; the message names file and key."""


class InputError(BotError):
    """Bad input from a user (a file, an argument); the message names where."""


@dataclass(frozen=True)
class SetupProblem:
    """One thing a run needs that is missing or wrong, found by a bot's preflight before any item
    is touched. ``site`` names the payer or site, ``setting`` the environment variable or config
    key to fix (never a secret's value), ``message`` says it whole for the operator."""

    site: str
    setting: str
    message: str


class SetupError(BotError):
    """The run cannot start: its setup is wrong (not a fault of any item, not a business exception).

    The run ends ``failed`` with every problem named; items stay as they were and no workbook row
    is written.
    """

    def __init__(self, problems: Sequence[SetupProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))
