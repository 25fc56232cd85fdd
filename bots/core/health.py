"""Run health for monitoring systems: is every scheduled bot running, on time and getting its work done?

:func:`evaluate` judges each scheduled (or already-run) bot and returns a :class:`HealthReport` whose
``code`` follows the monitoring-plugin convention (Nagios, Icinga, Zabbix, Prometheus' script
exporter): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. :func:`check_health` opens the store read-only
first (it never creates a database) and turns anything that stops it judging (no database, a
server that does not answer) into UNKNOWN. Every finding is reported with its level, not just the
worst, so one look tells IT everything that is wrong.

CRITICAL means the bots are not doing the work and a person must act now:

- the last run ``failed`` or ``crashed``, or a run is still marked running although its process on
  this host is gone;
- a scheduled bot has never finished a run;
- overdue: no run within the expected interval. The interval already tolerates one missed run, so
  an overdue bot has skipped at least two in a row;
- more than ``max_failed`` items failed in the last run (gave up after ``max_attempts`` runs: each is
  a Bot Failures row a person must do by hand).
- a site refused the bot's sign-in and no run signs in to it until the credential changes or an
  operator runs ``bots signin clear SITE`` (``bots.core.store.signins``): stays CRITICAL whatever
  the later runs do, so a blocked account is never mistaken for a quiet one.

WARNING means the work is getting done, but not all of it, and someone should look today:

- the last run ``degraded`` (a site stopped answering; its work was carried over), was
  ``interrupted`` (stopped on request; its items were handed back) or was ``missed`` (the scheduler
  recorded it could not start in time; it is alive and the next fire runs);
- more than ``max_carried_over`` items were put back for the next run, or every item was: nothing
  got done;
- more than ``max_exception_ratio`` of the last run's items became exceptions: routed exceptions
  are a success, but a spike usually means a broken rule, table or payer profile, not worse claims.

A limit left out of ``[bots.<bot>]`` takes the default below (``DEFAULT_LIMITS``).

Overdue means the last run started longer ago than ``expected_interval_hours``; without it the
interval is derived from the cron schedule: twice the longest gap between consecutive fire
times over the next week (so one late or missed run is tolerated, and a weekday schedule's
weekend is not an alarm) plus the misfire grace time. ``skipped`` rows (a run not started
because the previous one was still going) are not runs and are ignored.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import IntEnum
from typing import Any

from bots.core import registry
from bots.core.errors import BotError
from bots.core.settings import BotConfig, Settings
from bots.core.store import RunStatus, Store, utcnow
from bots.core.times import display_zone, show_time

__all__ = ["DEFAULT_LIMITS", "BotHealth", "Finding", "HealthReport", "Level", "check_health", "evaluate",
           "expected_interval", "unknown"]


class Level(IntEnum):
    """A verdict and its monitoring-plugin exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


# Limits a bot's section may set; these apply when it does not. Why these numbers: a few items
# given up on, or put back for a retry, are what Bot Failures and retries are for; more than five
# in one run is a systemic cause (a portal change, an expired account, a site down). A first-pass
# clean-claim rate is typically 75-85 %, so more than half the items as exceptions points at the
# bots' configuration rather than the claims.
DEFAULT_LIMITS: dict[str, float] = {"max_failed": 5, "max_carried_over": 5, "max_exception_ratio": 0.5}

# The level of a last run that did not succeed, by status; a status not listed is CRITICAL.
_LAST_RUN_LEVEL = {RunStatus.DEGRADED: Level.WARNING, RunStatus.INTERRUPTED: Level.WARNING,
                   RunStatus.MISSED: Level.WARNING}


@dataclass(frozen=True)
class Finding:
    level: Level
    reason: str


@dataclass
class BotHealth:
    bot: str
    findings: tuple[Finding, ...]
    last_run: dict[str, Any] | None
    expected_interval: timedelta | None = None

    @property
    def level(self) -> Level:
        return max((f.level for f in self.findings), default=Level.OK)

    @property
    def ok(self) -> bool:
        return self.level == Level.OK

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.reason for f in self.findings)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) or "ok"

    def as_dict(self) -> dict[str, Any]:
        last = self.last_run or {}
        hours = None if self.expected_interval is None else round(self.expected_interval.total_seconds() / 3600, 2)
        return {"bot": self.bot, "status": self.level.name, "code": int(self.level), "ok": self.ok,
                "reason": self.reason, "reasons": list(self.reasons),
                "findings": [{"level": f.level.name, "reason": f.reason} for f in self.findings],
                "last_run_id": last.get("run_id"), "last_status": last.get("status"),
                "last_started": last.get("started_at"), "expected_interval_hours": hours}


@dataclass
class HealthReport:
    """Every judged bot, or the ``error`` that kept health from judging (then UNKNOWN)."""

    bots: list[BotHealth] = field(default_factory=list)
    error: str | None = None

    @property
    def level(self) -> Level:
        if self.error is not None:
            return Level.UNKNOWN
        return max((b.level for b in self.bots), default=Level.OK)

    @property
    def code(self) -> int:
        return int(self.level)

    @property
    def status(self) -> str:
        return self.level.name

    @property
    def ok(self) -> bool:
        return self.level == Level.OK

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "code": self.code, "ok": self.ok,
                               "bots": [b.as_dict() for b in self.bots]}
        if self.error is not None:
            out["error"] = self.error
        return out

    def lines(self) -> list[str]:
        """The text output: a plugin-style status line, then one line per bot."""
        if self.error is not None:
            return [f"UNKNOWN: {self.error}"]
        counts = [(lvl, sum(b.level == lvl for b in self.bots)) for lvl in reversed(Level) if lvl != Level.UNKNOWN]
        head = ", ".join(f"{n} {lvl.name.lower()}" for lvl, n in counts if n) or "no scheduled bots and no runs yet"
        return [f"{self.status}: {head}"] + [f"{b.level.name:<8} {b.bot}: {b.reason}" for b in self.bots]


def expected_interval(settings: Settings, bot: str, *, now: datetime | None = None) -> timedelta | None:
    """How long a scheduled bot may go without a run before it is overdue (None: unscheduled)."""
    cfg = settings.config.bot(bot)
    if cfg.expected_interval_hours is not None:
        return timedelta(hours=cfg.expected_interval_hours)
    if not (cfg.enabled and cfg.schedule):
        return None
    from bots.core.scheduler import bot_trigger, longest_gap

    start = datetime.now(UTC) if now is None else (now if now.tzinfo else now.replace(tzinfo=UTC))
    gap = longest_gap(bot_trigger(settings, bot), start)
    if gap is None:
        return None
    return 2 * gap + timedelta(seconds=settings.config.scheduler.misfire_grace_seconds)


def _recent_runs(store: Store, bot: str, limit: int = 20) -> list[dict[str, Any]]:
    return store.list_runs(bot, limit, exclude_statuses=(RunStatus.SKIPPED,))


def _process_gone(run: dict[str, Any]) -> bool:
    """A ``running`` run of this host whose process no longer exists (killed with the scheduler)."""
    if run["host"] != socket.gethostname() or not run["pid"] or run["pid"] == os.getpid():
        return False
    try:
        os.kill(run["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _hours(interval: timedelta) -> str:
    return f"{interval.total_seconds() / 3600:g}"


def _limit(cfg: BotConfig, name: str) -> float:
    value = getattr(cfg, name)
    return DEFAULT_LIMITS[name] if value is None else value


def _last_run_findings(last: dict[str, Any], cfg: BotConfig, interval: timedelta | None, now: datetime,
                       zone: tzinfo) -> list[Finding]:
    out = []
    if last["status"] != RunStatus.SUCCEEDED:
        level = _LAST_RUN_LEVEL.get(last["status"], Level.CRITICAL)
        out.append(Finding(level, f"last run {last['run_id']} {last['status']}: {last['message'] or ''}".strip()))
    started = datetime.fromisoformat(last["started_at"])
    if interval is not None and now - started > interval:
        out.append(Finding(Level.CRITICAL, f"overdue: last run started "
                                           f"{show_time(started, zone, seconds=False)}, "
                                           f"expected at least every {_hours(interval)} h"))
    items, failed, carried = last["items"] or 0, last["failed"] or 0, last.get("carried_over") or 0
    exceptions = last["exceptions"] or 0
    max_failed, max_carried = _limit(cfg, "max_failed"), _limit(cfg, "max_carried_over")
    max_ratio = _limit(cfg, "max_exception_ratio")
    if failed > max_failed:
        out.append(Finding(Level.CRITICAL, f"{failed} failed items in the last run (limit {max_failed:g})"))
    if carried > max_carried:
        out.append(Finding(Level.WARNING, f"{carried} items carried over to the next run (limit {max_carried:g})"))
    elif items and carried >= items:
        out.append(Finding(Level.WARNING, f"all {items} items of the last run were carried over to the next run: "
                                          f"nothing got done"))
    if items and exceptions / items > max_ratio:
        out.append(Finding(Level.WARNING, f"{exceptions} of {items} items were exceptions "
                                          f"(limit {max_ratio:.0%})"))
    return out


def _blocked_finding(block: dict[str, Any], zone: tzinfo) -> Finding:
    site = block["site"]
    where = f" ({block['origin']})" if block["origin"] else ""
    return Finding(Level.CRITICAL, f"sign-in to {site}{where} blocked since "
                                   f"{show_time(block['blocked_at'], zone, seconds=False)}: {block['message']}; no "
                                   f"sign-in is tried until {block['credential_envs'] or 'the credential'} change or "
                                   f"`bots signin clear {site}`")


def evaluate(settings: Settings, store: Store, *, now: datetime | None = None) -> HealthReport:
    """One verdict per scheduled (or already-run) bot, each finding with its level. Reads only.

    Raises what the store raises (unreachable, no tables): :func:`check_health` turns that into UNKNOWN.
    """
    now = now or utcnow()  # naive UTC, like the run table
    zone = display_zone(settings)  # a bad ``timezone`` is a broken config: found before judging anything
    blocked: dict[str, list[dict[str, Any]]] = {}
    for block in store.signin_blocks():
        blocked.setdefault(block["bot"], []).append(block)
    out = []
    for bot in registry.names():
        cfg = settings.config.bot(bot)
        scheduled = cfg.enabled and cfg.schedule is not None
        recent = _recent_runs(store, bot)
        if not scheduled and not recent and bot not in blocked:
            continue
        findings: list[Finding] = [_blocked_finding(b, zone) for b in blocked.get(bot, [])]
        for r in recent:
            if r["status"] == RunStatus.RUNNING and _process_gone(r):
                findings.append(Finding(Level.CRITICAL, f"run {r['run_id']} crashed: still marked running but its "
                                                        f"process (pid {r['pid']} on {r['host']}) is gone"))
        last = next((r for r in recent if r["status"] != RunStatus.RUNNING), None)
        interval = expected_interval(settings, bot, now=now) if scheduled else None
        if last is None:
            if not findings:
                findings.append(Finding(Level.CRITICAL, "scheduled but has never finished a run"))
        else:
            findings += _last_run_findings(last, cfg, interval, now, zone)
        out.append(BotHealth(bot, tuple(findings), last, interval))
    return HealthReport(out)


def _error_text(exc: BaseException, settings: Settings | None) -> str:
    """One line, no traceback, no database password."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if not isinstance(exc, (FileNotFoundError, BotError)):
        text = f"{type(exc).__name__}: {text}"
    url = settings.database_url if settings is not None else None
    if url:
        from sqlalchemy import make_url

        try:
            password = make_url(url).password
        except Exception:  # noqa: BLE001 - an unparsable URL has no password to hide
            password = None
        if password:  # as in a URL always; bare only when long enough not to mask ordinary letters
            text = text.replace(f":{password}@", ":***@")
            if len(str(password)) >= 4:
                text = text.replace(str(password), "***")
    return text


def unknown(exc: BaseException, settings: Settings | None = None) -> HealthReport:
    """The UNKNOWN report for what kept health from judging: one line naming the cause."""
    return HealthReport(error=_error_text(exc, settings))


def check_health(settings: Settings, *, now: datetime | None = None) -> HealthReport:
    """:func:`evaluate` on the store opened read-only; never raises and never creates a database.

    Anything that keeps health from judging (no database file yet, a server that does not answer,
    a database without the tables, a bad ``timezone``) is an UNKNOWN report naming the cause."""
    store = None
    try:
        store = Store(settings.db_url, create=False)
        return evaluate(settings, store, now=now)
    except Exception as exc:  # noqa: BLE001 - monitoring gets UNKNOWN and the cause, never a traceback
        return unknown(exc, settings)
    finally:
        if store is not None:
            store.close()
