"""Run health for monitoring systems: is every scheduled bot running, on time and succeeding?

A bot is unhealthy when its last run did not succeed (failed, crashed, interrupted, or a
scheduled run was missed), when a run is still marked running although its process on this
host is gone, when it is overdue, or when the last run's failures or exception ratio exceed
``max_failed`` / ``max_exception_ratio``. Every reason is reported, not just the first, so one
look tells IT everything that is wrong.

Overdue means the last run started longer ago than ``expected_interval_hours``; without it the
interval is derived from the cron schedule: twice the longest gap between consecutive fire
times over the next week (so one late or missed run is tolerated, and a weekday schedule's
weekend is not an alarm) plus the misfire grace time. ``skipped`` rows (a run not started
because the previous one was still going) are not runs and are ignored.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bots.core import registry
from bots.core.settings import Settings
from bots.core.store import RunStatus, Store, utcnow

__all__ = ["BotHealth", "check_health", "expected_interval"]


@dataclass
class BotHealth:
    bot: str
    ok: bool
    reason: str
    last_run: dict[str, Any] | None
    reasons: tuple[str, ...] = ()
    expected_interval: timedelta | None = None

    def as_dict(self) -> dict[str, Any]:
        last = self.last_run or {}
        hours = None if self.expected_interval is None else round(self.expected_interval.total_seconds() / 3600, 2)
        return {"bot": self.bot, "ok": self.ok, "reason": self.reason, "reasons": list(self.reasons),
                "last_run_id": last.get("run_id"), "last_status": last.get("status"),
                "last_started": last.get("started_at"), "expected_interval_hours": hours}


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


def check_health(settings: Settings, store: Store, *, now: datetime | None = None) -> list[BotHealth]:
    """One verdict per scheduled (or already-run) bot; ``ok`` False names every reason."""
    now = now or utcnow()  # naive UTC, like the run table
    out = []
    for bot in registry.names():
        cfg = settings.config.bot(bot)
        scheduled = cfg.enabled and cfg.schedule is not None
        recent = _recent_runs(store, bot)
        if not scheduled and not recent:
            continue
        reasons: list[str] = []
        for r in recent:
            if r["status"] == RunStatus.RUNNING and _process_gone(r):
                reasons.append(f"run {r['run_id']} crashed: still marked running but its process "
                               f"(pid {r['pid']} on {r['host']}) is gone")
        last = next((r for r in recent if r["status"] != RunStatus.RUNNING), None)
        interval = expected_interval(settings, bot, now=now) if scheduled else None
        if last is None:
            if not reasons:
                reasons.append("scheduled but has never finished a run")
        else:
            if last["status"] != RunStatus.SUCCEEDED:
                reasons.append(f"last run {last['run_id']} {last['status']}: {last['message'] or ''}".strip())
            started = datetime.fromisoformat(last["started_at"])
            if interval is not None and now - started > interval:
                reasons.append(f"overdue: last run started {started:%Y-%m-%d %H:%M} UTC, "
                               f"expected at least every {_hours(interval)} h")
            items = last["items"] or 0
            if cfg.max_failed is not None and last["failed"] > cfg.max_failed:
                reasons.append(f"{last['failed']} failed items in the last run (limit {cfg.max_failed})")
            if cfg.max_exception_ratio is not None and items and last["exceptions"] / items > cfg.max_exception_ratio:
                reasons.append(f"{last['exceptions']} of {items} items were exceptions "
                               f"(limit {cfg.max_exception_ratio:.0%})")
        out.append(BotHealth(bot, not reasons, "; ".join(reasons) or "ok", last, tuple(reasons), interval))
    return out
