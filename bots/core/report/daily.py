"""The dashboard written after the scheduler's last run of the day (``[report] after_last_run``).

"Last" is read from the schedules themselves: after a run, if no enabled bot's schedule fires
again before midnight in the scheduler's time zone, the day's runs are over and the report
is written; a meta record (the day written) makes that once a day when two bots finish
together or a manual run follows.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bots.core.logging import get_logger
from bots.core.settings import Settings
from bots.core.store import Store

__all__ = ["last_run_of_day", "write_daily_report"]

META_KEY = "report_daily"

log = get_logger("bots.report")


def last_run_of_day(settings: Settings, now: datetime) -> bool:
    """No enabled schedule fires again between ``now`` (aware) and the end of its day in the
    scheduler's time zone. With no schedules at all every run is the day's last."""
    from bots.core.scheduler.cron import _schedules, schedule_timezone

    tz = ZoneInfo(schedule_timezone(settings.config))
    local = now.astimezone(tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=tz)
    for schedule in _schedules(settings):
        fire = schedule.trigger.get_next_fire_time(None, local)
        if fire is not None and fire < midnight:
            return False
    return True


def write_daily_report(settings: Settings, store: Store, now: datetime | None = None) -> Path | None:
    """Write the dashboard (HTML and JSON beside it) if it is due; the path written, or None."""
    from bots.core.report import build_report, default_range, features_set_up, write_report
    from bots.core.scheduler.cron import schedule_timezone

    cfg = settings.config.report
    moment = now or datetime.now(UTC)
    if not cfg.after_last_run or not last_run_of_day(settings, moment):
        return None
    day = moment.astimezone(ZoneInfo(schedule_timezone(settings.config))).date().isoformat()
    if store.swap_meta(META_KEY, day) == day:
        return None  # written today already
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    first, last = default_range(cfg.by, utc.date())
    report = build_report(store, first, last, cfg.by, coder_names=cfg.coder_names, now=utc, scan_bot=cfg.scan_bot,
                          **features_set_up(settings))
    path = settings.report_path
    write_report(report, path, path.with_suffix(".json"))
    log.info("report_written", path=str(path), periods=len(report.periods), day=day)
    return path
