"""Times shown to people: one configured zone (``timezone`` in bots.toml), always labelled.

The store keeps naive UTC ISO timestamps and the scheduler hands out aware datetimes in each
schedule's own zone; whatever a command prints goes through :func:`show_time`, so ``bots runs``,
``bots scheduler jobs``, ``bots audit show`` and ``bots workbook status`` agree on one zone and say
which (``2026-11-30 08:15:02 EST``). JSON output keeps machine times as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bots.core.errors import ConfigError
from bots.core.settings import Settings

__all__ = ["display_zone", "show_time"]


def display_zone(settings: Settings) -> ZoneInfo:
    """The zone for human-facing times: the top-level ``timezone`` of bots.toml (default UTC)."""
    name = settings.config.timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{settings.config_file('bots.toml')}: key 'timezone': unknown time zone "
                          f"(value: {name!r}); use an IANA name such as 'America/New_York' or 'UTC'") from None


def show_time(value: str | datetime | None, zone: tzinfo, *, seconds: bool = True, empty: str = "") -> str:
    """``value`` (a naive UTC ISO string or datetime from the store, or an aware datetime) in ``zone``,
    with the zone's abbreviation for that moment, e.g. ``2026-11-30 08:15:02 EST``; ``empty`` for None."""
    if value is None or value == "":
        return empty
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone)
    label = local.tzname() or str(zone)
    if label[:1] in "+-":  # zones without an abbreviation (tzdata gives "-03"): say what it is relative to
        label = f"UTC{label}"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{local.strftime(fmt)} {label}"
