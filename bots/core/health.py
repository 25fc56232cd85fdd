"""Run health for monitoring systems: is every scheduled bot running, on time and succeeding?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bots.core.settings import BOT_NAMES, Settings
from bots.core.store import RunStatus, Store, utcnow

__all__ = ["BotHealth", "check_health"]


@dataclass
class BotHealth:
    bot: str
    ok: bool
    reason: str
    last_run: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        last = self.last_run or {}
        return {"bot": self.bot, "ok": self.ok, "reason": self.reason, "last_run_id": last.get("run_id"),
                "last_status": last.get("status"), "last_started": last.get("started_at")}


def _interval_hours(settings: Settings, bot: str) -> float | None:
    cfg = settings.config.bot(bot)
    if cfg.expected_interval_hours is not None:
        return cfg.expected_interval_hours
    return None


def check_health(settings: Settings, store: Store, *, now: datetime | None = None) -> list[BotHealth]:
    """One verdict per scheduled (or already-run) bot; ``ok`` False names why."""
    now = now or utcnow()
    out = []
    for bot in BOT_NAMES:
        cfg = settings.config.bot(bot)
        history = store.list_runs(bot, last=1)
        scheduled = cfg.enabled and cfg.schedule is not None
        if not scheduled and not history:
            continue
        finished = [r for r in store.list_runs(bot, last=20) if r["status"] != RunStatus.RUNNING]
        last = finished[0] if finished else None
        if last is None:
            out.append(BotHealth(bot, False, "scheduled but has never finished a run", None))
            continue
        if last["status"] != RunStatus.SUCCEEDED:
            out.append(BotHealth(bot, False, f"last run {last['run_id']} {last['status']}: {last['message'] or ''}".strip(), last))
            continue
        hours = _interval_hours(settings, bot)
        started = datetime.fromisoformat(last["started_at"])
        if scheduled and hours is not None and now - started > timedelta(hours=hours):
            out.append(BotHealth(bot, False, f"overdue: last run started {started:%Y-%m-%d %H:%M} UTC, "
                                             f"expected every {hours:g} h", last))
            continue
        items = last["items"] or 0
        if cfg.max_failed is not None and last["failed"] > cfg.max_failed:
            out.append(BotHealth(bot, False, f"{last['failed']} failed items in the last run (limit {cfg.max_failed})", last))
            continue
        if cfg.max_exception_ratio is not None and items and last["exceptions"] / items > cfg.max_exception_ratio:
            out.append(BotHealth(bot, False, f"{last['exceptions']} of {items} items were exceptions "
                                             f"(limit {cfg.max_exception_ratio:.0%})", last))
            continue
        out.append(BotHealth(bot, True, "ok", last))
    return out
