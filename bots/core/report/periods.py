"""Report periods: whole weeks (Monday to Sunday) or calendar months, in UTC.

The store keeps UTC timestamps; a period is a half-open UTC interval ``[start, end)``, so a
record belongs to exactly one period and a reviewer can recompute a figure with a plain
``start <= ts < end`` filter. A range given as dates is widened to whole periods.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

__all__ = ["Granularity", "Period", "Periods"]

Granularity = Literal["week", "month"]


@dataclass(frozen=True)
class Period:
    label: str  # 2026-W14 or 2026-04
    start: date  # first day, inclusive
    end: date  # first day of the next period, exclusive

    @property
    def start_ts(self) -> str:
        return self.start.isoformat()

    @property
    def end_ts(self) -> str:
        return self.end.isoformat()


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


class Periods:
    """The consecutive periods covering ``first``…``last`` (dates, inclusive)."""

    def __init__(self, first: date, last: date, by: Granularity):
        if last < first:
            raise ValueError(f"the range ends ({last}) before it starts ({first})")
        self.by = by
        out: list[Period] = []
        if by == "week":
            start = first - timedelta(days=first.weekday())
            while start <= last:
                end = start + timedelta(days=7)
                iso = start.isocalendar()
                out.append(Period(f"{iso.year}-W{iso.week:02d}", start, end))
                start = end
        elif by == "month":
            start = _month_start(first)
            while start <= last:
                end = _next_month(start)
                out.append(Period(f"{start:%Y-%m}", start, end))
                start = end
        else:
            raise ValueError(f"unknown period {by!r}: week or month")
        self.items = out
        self._starts = [p.start.isoformat() for p in out]

    def __iter__(self):  # noqa: ANN204 - Iterator[Period]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def start_ts(self) -> str:
        return self.items[0].start_ts

    @property
    def end_ts(self) -> str:
        return self.items[-1].end_ts

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.items]

    def index(self, day: str | None) -> int | None:
        """The period holding ``day`` (``YYYY-MM-DD``…); -1 before the range, None after it or blank."""
        if not day:
            return None
        day = day[:10]
        if day < self._starts[0]:
            return -1
        if day >= self.end_ts:
            return None
        return bisect_right(self._starts, day) - 1

    def describe(self) -> str:
        kind = "weeks (Monday to Sunday)" if self.by == "week" else "calendar months"
        return (f"{len(self)} {kind} from {self.items[0].start} to {self.items[-1].end - timedelta(days=1)}, "
                "UTC; each period is [start, end) in the stored UTC timestamps")
