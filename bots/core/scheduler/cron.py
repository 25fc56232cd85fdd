"""Cron arithmetic for the scheduler: crontab expressions to APScheduler 3 triggers, and gaps.

Kept apart from the running scheduler because health checks need it too (``longest_gap``)
and it is pure: no store, no threads. Cron expressions use crontab's day-of-week numbers
(0 or 7 = Sunday, 1-5 = Monday to Friday). APScheduler 3 counts weekdays from Monday = 0,
so the field is translated to day names before it reaches a ``CronTrigger``; untranslated,
``1-5`` would run Tuesday to Saturday. As in APScheduler (unlike Vixie cron), a restricted
day-of-month and a restricted day-of-week must both match. A bot's ``timezone`` wins, then
``[scheduler] timezone`` if set, then the top-level ``timezone``. Vixie cron's nicknames
(``@hourly``, ``@daily``/``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``/``@annually``) stand
for their five-field equivalents (``CRON_ALIASES``); ``@reboot`` has no meaning for a scheduler
that is itself the service and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bots.core import registry
from bots.core.errors import ConfigError
from bots.core.inbox import resolve_inbox
from bots.core.settings import BotsConfig, Settings

__all__ = ["CRON_ALIASES", "bot_trigger", "cron_trigger", "crontab_day_of_week", "crontab_expression", "longest_gap",
           "schedule_display", "schedule_timezone"]

CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_EXACT_FIRES = 1500  # fire times walked one by one before longest_gap switches to hourly probes
_GAP_HORIZON = timedelta(days=400)


def schedule_timezone(config: BotsConfig, bot: str | None = None) -> str:
    if bot is not None and config.bot(bot).timezone:
        return config.bot(bot).timezone  # type: ignore[return-value]
    if "timezone" in config.scheduler.model_fields_set:
        return config.scheduler.timezone
    return config.timezone


def _cron_day(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _CRON_DAYS:
        return _CRON_DAYS.index(token[:3])
    raise ValueError(f"bad day of week {token!r} (0-7 or sun-sat)")


def crontab_day_of_week(field: str) -> str:
    """Translate a crontab day-of-week field (0/7 = Sunday) into APScheduler 3 day names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"bad step in day of week {part!r}")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            lo, hi = _cron_day(first), _cron_day(last)
        else:
            lo = _cron_day(base)
            hi = 7 if slash else lo
        if hi < lo:
            raise ValueError(f"bad range in day of week {part!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_CRON_DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def crontab_expression(expr: str) -> str:
    """The five-field crontab expression ``expr`` stands for: itself, or an ``@daily``-style alias expanded."""
    text = expr.strip()
    if text.startswith("@"):
        try:
            return CRON_ALIASES[text.lower()]
        except KeyError:
            raise ValueError(f"unknown schedule alias {expr!r} (use a 5-field cron expression or one of "
                             f"{', '.join(CRON_ALIASES)})") from None
    if len(text.split()) != 5:
        raise ValueError(f"expected a 5-field cron expression (or one of {', '.join(CRON_ALIASES)}), got {expr!r}")
    return text


def schedule_display(expr: str) -> str:
    """A schedule as ``bots scheduler jobs`` shows it: an alias with what it stands for."""
    expanded = crontab_expression(expr)
    return expr if expanded == expr.strip() else f"{expr.strip()} ({expanded})"


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """A ``CronTrigger`` from a 5-field crontab expression (or an alias) with crontab's weekday numbers."""
    fields = crontab_expression(expr).split()
    fields[4] = crontab_day_of_week(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def bot_trigger(settings: Settings, bot: str) -> CronTrigger:
    """The trigger for a bot's configured schedule; a bad schedule is a ConfigError naming the key."""
    cfg = settings.config.bot(bot)
    if cfg.schedule is None:
        raise ConfigError(f"{settings.config_file('bots.toml')}: bot {bot!r} has no schedule")
    tz = schedule_timezone(settings.config, bot)
    try:
        return cron_trigger(cfg.schedule, tz)
    except Exception as exc:  # ValueError from the fields, ZoneInfoNotFoundError from the zone
        raise ConfigError(f"{settings.config_file('bots.toml')}: key 'bots.{bot}.schedule': {exc} "
                          f"(value: {cfg.schedule!r}, timezone {tz!r})") from None


@dataclass
class _Schedule:
    bot: str
    trigger: BaseTrigger
    cron: str | None
    timezone: str
    inbox: Path | None


def _schedules(settings: Settings, triggers: Mapping[str, BaseTrigger] | None = None) -> list[_Schedule]:
    out = []
    for bot in registry.names():
        cfg = settings.config.bot(bot)
        inbox = resolve_inbox(settings, cfg.inbox) if cfg.inbox else None
        tz = schedule_timezone(settings.config, bot)
        if triggers and bot in triggers:
            out.append(_Schedule(bot, triggers[bot], None, tz, inbox))
        elif cfg.enabled and cfg.schedule:
            out.append(_Schedule(bot, bot_trigger(settings, bot), schedule_display(cfg.schedule), tz, inbox))
    return out


def longest_gap(trigger: BaseTrigger, start: datetime, *, window: timedelta = timedelta(days=7)) -> timedelta | None:
    """The longest time between consecutive fire times from ``start`` over ``window``.

    Exact for schedules that fire up to ~1500 times in the window; beyond that the walk
    probes hourly, which can overstate a gap by at most an hour (harmless for a health
    threshold, and it keeps a once-a-minute schedule from costing a second). None if the
    trigger never fires.
    """
    first = trigger.get_next_fire_time(None, start)
    if first is None:
        return None
    end = first + window
    prev, longest, n = first, None, 0
    while True:
        probe = prev + (timedelta(seconds=1) if n < _EXACT_FIRES else timedelta(hours=1))
        nxt = trigger.get_next_fire_time(None, probe)
        if nxt is None or nxt - first > _GAP_HORIZON:
            return longest
        gap = nxt.astimezone(UTC) - prev.astimezone(UTC)  # across a DST change too
        longest = gap if longest is None or gap > longest else longest
        prev, n = nxt, n + 1
        if nxt >= end:
            return longest
