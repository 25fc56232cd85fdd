"""The leaders' dashboard: baselines per week or month, with their definitions (``bots report``).

``figures`` computes one section per baseline from the store's read-only aggregates
(``bots.core.store.dashboard``); ``html`` renders one self-contained file with SVG charts
(``charts``), ``Report.as_dict`` is the JSON, and the workbook's Trends sheet
(``bots.core.workbook.trends``) shows the same tables. ``daily`` writes it after the
scheduler's last run of the day.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bots.core.report.figures import Context
from bots.core.report.sections import SECTIONS
from bots.core.report.model import Chart, Report, Section, Table
from bots.core.report.periods import Granularity, Periods
from bots.core.store import Store, utcnow

if TYPE_CHECKING:
    from bots.core.settings import Settings

__all__ = ["Chart", "Report", "Section", "Table", "build_report", "default_range", "features_set_up", "report_json",
           "sampling_set_up", "write_report"]

TITLE = "rcm-bots: leaders' dashboard"
DEFAULT_WEEKS = 12
DEFAULT_MONTHS = 12


def default_range(by: Granularity, today: date) -> tuple[date, date]:
    """The last 12 weeks or 12 months up to ``today``."""
    if by == "week":
        return today - timedelta(weeks=DEFAULT_WEEKS - 1), today
    first = today.replace(day=1)
    for _ in range(DEFAULT_MONTHS - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return first, today


def build_report(store: Store, first: date, last: date, by: Granularity = "week", *, coder_names: bool = True,
                 now: datetime | None = None, scan_bot: str = "claim_edits",
                 appeals_configured: bool | None = None, quality_sampling: bool | None = None) -> Report:
    """Every section over the whole periods covering ``first``…``last`` (UTC dates, inclusive).
    ``appeals_configured``: config/appeals.toml is there (the appeal figures show even before the
    first appeal); None: the appeal figures show once an appeal was opened. ``quality_sampling``:
    whether ``config/quality.toml`` is present (:func:`sampling_set_up`); None when not known, and
    then the quality figures show as soon as a sample is stored."""
    periods = Periods(first, last, by)
    moment = now or utcnow()
    ctx = Context(store, periods, moment, coder_names=coder_names, scan_bot=scan_bot,
                  appeals_configured=appeals_configured, quality_sampling=quality_sampling)
    return Report(title=TITLE, generated_at=moment.isoformat(timespec="seconds"), by=by,
                  range_from=periods.items[0].start.isoformat(),
                  range_to=(periods.items[-1].end - timedelta(days=1)).isoformat(),
                  periods=periods.labels, scope=periods.describe(), coder_names=coder_names,
                  sections=[make(ctx) for make in SECTIONS])


def sampling_set_up(settings: Settings) -> bool:
    """``config/quality.toml`` is there: quality sampling is on (whether or not it has drawn yet).
    Only its presence: a file that does not validate is ``bots config check``'s to report, and the
    dashboard still shows the samples stored."""
    from bots.core.quality import QUALITY_FILE

    return settings.config_file(QUALITY_FILE).exists()


def features_set_up(settings: Settings) -> dict[str, bool]:
    """``build_report``'s keywords saying which optional queues this installation has set up (their
    config files are there), so their sections show zeros before their first row, not "not available"."""
    from bots.core.appeals import APPEALS_FILE

    return {"appeals_configured": settings.config_file(APPEALS_FILE).exists(),
            "quality_sampling": sampling_set_up(settings)}


def _replace(path: Path, text: str) -> None:
    """Write beside ``path`` and rename over it, so a reader never opens half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(report: Report, html_path: Path, json_path: Path | None = None) -> None:
    """The HTML page at ``html_path`` and, when given, the same figures as JSON at ``json_path``."""
    from bots.core.report.html import render_html

    _replace(html_path, render_html(report))
    if json_path is not None:
        _replace(json_path, report_json(report))


def report_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=1, ensure_ascii=False)
