"""The workbook's Trends sheet: the leaders' dashboard figures for the last weeks, as tables.

The same ``Report`` as ``bots report`` (``bots.core.report``), per week over ``[report]
trends_weeks`` weeks, without the per-coder training view (the workbook is the coders' shared
file) and without charts. Every number is a plain cell value, so the sheet reopens anywhere; an
empty week shows 0, a rate or median with nothing to compute it from is left blank. The sheet
comes last and has no Exception ID header, so the coder-edits reader passes it by
(``reader``); it is protected like the Summary.

Computing it must never cost the coders their workbook: a failure is logged and the sheet
says the figures could not be computed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.protection import SheetProtection

from bots.core.logging import get_logger
from bots.core.workbook.layout import print_setup

if TYPE_CHECKING:
    from bots.core.report import Report
    from bots.core.settings import Settings
    from bots.core.store import Store

__all__ = ["TRENDS_SHEET", "trend_report", "trends_sheet"]

TRENDS_SHEET = "Trends"
FAILED = "The trend figures could not be computed at this write (see the bots' log); the next write tries again."

log = get_logger("bots.workbook")


def trend_report(settings: Settings, store: Store) -> Report | str | None:
    """The report for the Trends sheet; None when ``[report] workbook_trends`` is off; the text
    :data:`FAILED` when computing it failed."""
    from bots.core.report import build_report, features_set_up
    from bots.core.store import utcnow

    cfg = settings.config.report
    if not cfg.workbook_trends:
        return None
    try:
        today = utcnow().date()
        return build_report(store, today - timedelta(weeks=cfg.trends_weeks - 1), today, "week", coder_names=False,
                            scan_bot=cfg.scan_bot, **features_set_up(settings))
    except Exception as exc:
        log.exception("trends_failed", error_type=type(exc).__name__)
        return FAILED


def trends_sheet(wb: Workbook, report: Report | str, written: str) -> Any:
    """The sheet, after the queue sheets. ``written``: when, for the printed footer. Only each
    section's summary tables: the long per-category tables are in the HTML and JSON."""
    ws = wb.create_sheet(TRENDS_SHEET)
    print_setup(ws, written, title_rows=None)
    ws.column_dimensions["A"].width = 34
    for letter in "BCDEFGHIJKLMNOPQRSTU":
        ws.column_dimensions[letter].width = 15

    def cell(value: Any, *, bold: bool = False, size: float | None = None, wrap: bool = False) -> WriteOnlyCell:
        c = WriteOnlyCell(ws, value=value)
        if bold or size:
            c.font = Font(bold=bold, size=size)
        if wrap:
            c.alignment = Alignment(wrap_text=True, vertical="top")
        return c

    ws.append([cell("Trends: the leaders' baselines per week", bold=True, size=14)])
    if isinstance(report, str):
        ws.append([cell(report)])
    else:
        ws.append([cell(f"{report.range_from} to {report.range_to}: {report.scope}. Computed {report.generated_at} "
                        "UTC. Blank: nothing to compute a rate or median from. `bots report` draws the same "
                        "figures as charts.")])
        for section in report.sections:
            if section.key == "training":
                continue  # names of coders stay out of the shared workbook
            ws.append([])
            ws.append([cell(section.title, bold=True, size=12)])
            ws.append([cell("Definition"), cell(section.definition)])
            if section.note:
                ws.append([cell("Note"), cell(section.note)])
            for table in (t for t in section.tables if not t.long):
                ws.append([cell(table.title, bold=True)])
                ws.append([cell(c, bold=True, wrap=True) for c in table.columns])
                for row in table.rows:
                    ws.append(list(row))
                if not table.rows:
                    ws.append([cell("no rows in this range")])
    ws.protection = SheetProtection(sheet=True, selectLockedCells=False, selectUnlockedCells=False,
                                    formatColumns=False)
    return ws
