"""The Summary sheet: per-queue counts a supervisor reads first (open rows by review level,
the oldest open row, resolutions of the last week, rows awaiting sync, Bot Check problems).

Counting is here, apart from the cell-by-cell rendering in ``render``, because it is where
the row lifecycle shows: a row is *open* while the bots still report it (Bot Status Open)
and no coder has resolved it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet.protection import SheetProtection

from bots.core.lifecycle import APPEAL_PREPARATION, CoderStatus, RowState
from bots.core.times import show_time
from bots.core.workbook.changes_block import change_rows
from bots.core.workbook.checks import OWNER_CHECK, UNOWNED_CHECK, is_signoff_problem
from bots.core.workbook.layout import SUMMARY_SHEET, column_letter, print_setup

if TYPE_CHECKING:
    from bots.core.workbook.render import SheetRows

__all__ = ["AppealGaps", "QaStats", "QueueStats", "SummaryStats", "is_open", "summarize", "summary_sheet"]


@dataclass
class QueueStats:
    open_entry: int = 0
    open_senior: int = 0
    oldest_open: str | None = None  # ISO timestamp (UTC) of the oldest open row
    resolved_7d: int = 0
    awaiting_sync: int = 0
    bot_check: int = 0
    cleared: int = 0
    total: int = 0
    unowned: int = 0  # open rows no one present on the roster can take (Bot Check ``UNOWNED_CHECK``)
    no_signoff: int = 0  # Senior rows resolved by someone who is not a senior: held, not synced


@dataclass
class QaStats:
    sampled: int = 0
    reviewed: int = 0
    passed: int = 0
    failed: int = 0
    open: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.reviewed if self.reviewed else None


@dataclass
class AppealGaps:
    """Appeal documentation gaps of one payer and denial category."""

    open_with_gaps: int = 0  # open appeals still missing a document or a submission detail
    missed: int = 0  # appeals flagged "deadline missed"


@dataclass
class SummaryStats:
    written_at: datetime  # UTC, naive
    queues: dict[str, QueueStats] = field(default_factory=dict)
    # (when, what): what the writes of the last days could not merge or had to restore,
    # newest first, so a coder learns it from the workbook and not only from a log
    notices: list[tuple[str, str]] = field(default_factory=list)
    senior_by_person: dict[str, int] = field(default_factory=dict)  # open Senior rows per senior (or escalation)
    qa: dict[str, QaStats] | None = None  # per decision kind; None: no quality sampling
    open_findings: int = 0  # rows a QA Fail opened that are still open
    overturned: dict[tuple[str, str], int] = field(default_factory=dict)  # QA fails per (rule id, version)
    latest_change: dict[str, Any] | None = None  # Store.latest_change: a rule or table change and its effect
    appeal_gaps: dict[tuple[str, str], AppealGaps] = field(default_factory=dict)  # per (payer, denial category)
    archived: dict[str, int] = field(default_factory=dict)  # archived rows per archive file (``archive``)
    archive_after_days: int = 0  # [workbook] archive_after_days (0: archiving off)

    @property
    def deadlines_missed(self) -> int:
        return sum(g.missed for g in self.appeal_gaps.values())

    @property
    def senior_backlog(self) -> int:
        return sum(q.open_senior for q in self.queues.values())

    @property
    def unowned(self) -> int:
        return sum(q.unowned for q in self.queues.values())

    @property
    def no_signoff(self) -> int:
        return sum(q.no_signoff for q in self.queues.values())


def is_open(row: dict[str, Any]) -> bool:
    """Still needs a person: the bots still report it and no coder has resolved it."""
    return row["bot_status"] == RowState.OPEN and not _resolved(row)


def _resolved(row: dict[str, Any]) -> bool:
    """Resolved, however the coder typed it (a pasted value escapes the dropdown)."""
    return (row["status"] or "").strip().lower() == CoderStatus.RESOLVED.lower()


def _resolved_day(row: dict[str, Any]) -> date | None:
    for value in (row["resolved_on"], row["coder_updated_at"]):
        if value:
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None


def summarize(sheets: Sequence[SheetRows], now: datetime, ready: set[str],
              notices: Sequence[tuple[str, str]] = (), samples: Sequence[dict[str, Any]] | None = None) -> SummaryStats:
    """Counts for the Summary sheet. ``ready`` holds the Exception IDs status_sync may apply;
    ``samples``: the Quality Review rows (None: no sampling)."""
    stats = SummaryStats(written_at=now, notices=list(notices))
    open_ids: set[str] = set()
    week_ago = (now - timedelta(days=7)).date()
    for sheet in sheets:
        q = stats.queues.setdefault(sheet.title, QueueStats())
        for row in sheet.rows:
            q.total += 1
            if row["bot_check"]:
                q.bot_check += 1
                if any(is_signoff_problem(m) for m in row["bot_check"].split("; ")):
                    q.no_signoff += 1
            if row["bot_status"] == RowState.CLEARED:
                q.cleared += 1
            if row["exception_id"] in ready:
                q.awaiting_sync += 1
            if is_open(row):
                open_ids.add(row["exception_id"])
                if row["review_level"] == "Senior":
                    q.open_senior += 1
                    who = ((row.get("escalated_to") if row["status"] == CoderStatus.ESCALATED else None)
                           or row["assigned_to"] or "(no one)").strip()
                    stats.senior_by_person[who] = stats.senior_by_person.get(who, 0) + 1
                else:
                    q.open_entry += 1
                if any(m.startswith((UNOWNED_CHECK, OWNER_CHECK)) for m in (row["bot_check"] or "").split("; ")):
                    q.unowned += 1
                if q.oldest_open is None or row["first_seen"] < q.oldest_open:
                    q.oldest_open = row["first_seen"]  # ISO timestamps order as text
            elif _resolved(row):
                day = _resolved_day(row)
                if day is not None and day >= week_ago:
                    q.resolved_7d += 1
            if sheet.queue == APPEAL_PREPARATION and "appeal_gaps" in row:
                _count_appeal(stats, row)
    if samples is not None:
        stats.qa = {}
        for s in samples:
            k = stats.qa.setdefault(s["kind"], QaStats())
            k.sampled += 1
            result = (s["qa_result"] or "").strip()
            if s["bot_status"] == RowState.SYNCED and result in ("Pass", "Fail"):
                k.reviewed += 1
                k.passed += result == "Pass"
                k.failed += result == "Fail"
                if result == "Fail":
                    key = (s["rule_id"] or "-", s["rule_version"] or "-")
                    stats.overturned[key] = stats.overturned.get(key, 0) + 1
                    stats.open_findings += s["followup_id"] in open_ids
            elif s["bot_status"] == RowState.OPEN:
                k.open += 1
    return stats


def _count_appeal(stats: SummaryStats, row: dict[str, Any]) -> None:
    """An appeal row (``workbook.appeals.appeal_view``): its gaps while it is not yet applied to billing."""
    key = (row["payer_id"] or "-", row["category"] or "-")
    gaps = row["appeal_gaps"] if row["bot_status"] != RowState.SYNCED else []
    if gaps or row["appeal_missed"]:
        g = stats.appeal_gaps.setdefault(key, AppealGaps())
        g.open_with_gaps += bool(gaps)
        g.missed += row["appeal_missed"]


ARCHIVE_FILES_SHOWN = 24  # two years of monthly files; older ones are counted in the total


def _archive_rows(ws: Any, stats: SummaryStats, cell: Any) -> None:
    """How many rows left this workbook for the archive files, and where they are."""
    ws.append([])
    after = (f"closed rows move there {stats.archive_after_days} days after they closed"
             if stats.archive_after_days else "archiving is off ([workbook] archive_after_days = 0)")
    ws.append([cell("Archived rows (not in this workbook)", bold=True), cell(sum(stats.archived.values()), bold=True),
               cell(f"in the archive folder beside this workbook, one read-only file per month closed; {after}. "
                    "A row found again comes back here. `bots audit show CLAIM` says where a claim's rows are.")])
    for name, n in sorted(stats.archived.items(), reverse=True)[:ARCHIVE_FILES_SHOWN]:
        ws.append([cell(name), n])


def summary_sheet(wb: Workbook, stats: SummaryStats, tz: tzinfo) -> Any:
    ws = wb.create_sheet(SUMMARY_SHEET)
    widths = (34, 18, 13, 10, 18, 20, 14, 18, 10, 10)  # B holds "Last written" (yyyy-mm-dd hh:mm)
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[column_letter(i)].width = width
    ws.freeze_panes = "A10"
    print_setup(ws, show_time(stats.written_at.replace(tzinfo=UTC), tz, seconds=False), title_rows=None)

    def cell(value: Any, *, bold: bool = False, size: float | None = None, fmt: str | None = None) -> Cell:
        c = WriteOnlyCell(ws, value=value)
        if bold or size:
            c.font = Font(bold=bold, size=size)
        if fmt:
            c.number_format = fmt
        return c

    local = stats.written_at.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    ws.append([cell("Exception workbook", bold=True, size=14)])
    ws.append([cell("Last written"), cell(local, fmt="yyyy-mm-dd hh:mm"), cell(f"all times in this workbook are {tz} time")])
    ws.append([cell("Senior backlog (open Senior rows)"), cell(stats.senior_backlog, bold=True)])
    ws.append([cell("Unowned open rows"), cell(stats.unowned, bold=True),
               cell("no one present on the team roster can take them: see Bot Check")])
    ws.append([cell("Senior rows resolved without a senior"), cell(stats.no_signoff, bold=True),
               cell("audit evidence exceptions: not synced until a senior signs them off")])
    ws.append([cell("Your columns"), cell("Assigned To … Resolved On (green headers), right after Reason and "
                                          "the evidence link. A Resolved row needs Resolution, Resolution Note "
                                          "and Resolved By. Point at a header for what it takes; the bots' own "
                                          "records are grouped at the far right ([+] shows them).")])
    ws.append([cell("Sorting"), cell("Filter freely. To sort, use Review > Unprotect Sheet (no password); "
                                     "the next write restores protection and keeps your order and entries.")])
    ws.append([])
    headers = ("Queue", "Open (Entry)", "Open (Senior)", "Open", "Oldest open (days)", "Resolved last 7 days",
               "Awaiting sync", "Bot Check problems", "Cleared", "Rows")
    ws.append([cell(h, bold=True) for h in headers])
    total = QueueStats()

    def age(oldest: str | None) -> int | None:
        return (stats.written_at - datetime.fromisoformat(oldest)).days if oldest else None

    for title, q in stats.queues.items():
        ws.append([cell(title), q.open_entry, q.open_senior, q.open_entry + q.open_senior, age(q.oldest_open),
                   q.resolved_7d, q.awaiting_sync, q.bot_check, q.cleared, q.total])
        for name in ("open_entry", "open_senior", "resolved_7d", "awaiting_sync", "bot_check", "cleared", "total"):
            setattr(total, name, getattr(total, name) + getattr(q, name))
        if q.oldest_open and (total.oldest_open is None or q.oldest_open < total.oldest_open):
            total.oldest_open = q.oldest_open
    ws.append([cell("Total", bold=True), total.open_entry, total.open_senior, total.open_entry + total.open_senior,
               age(total.oldest_open), total.resolved_7d, total.awaiting_sync, total.bot_check, total.cleared,
               total.total])
    if stats.archived or stats.archive_after_days:
        _archive_rows(ws, stats, cell)
    ws.append([])
    ws.append([cell("Senior backlog by person", bold=True), cell("open Senior rows")])
    for who, n in sorted(stats.senior_by_person.items(), key=lambda kv: (-kv[1], kv[0])):
        ws.append([cell(who), n])
    if stats.qa is not None:
        ws.append([])
        ws.append([cell(h, bold=True) for h in ("Quality review", "Sampled", "Reviewed", "Pass", "Fail",
                                                   "Pass rate", "Awaiting review")])
        every = QaStats()
        for kind, k in sorted(stats.qa.items()):
            ws.append([cell(kind), k.sampled, k.reviewed, k.passed, k.failed, cell(k.pass_rate, fmt="0%"), k.open])
            for name in ("sampled", "reviewed", "passed", "failed", "open"):
                setattr(every, name, getattr(every, name) + getattr(k, name))
        ws.append([cell("All samples", bold=True), every.sampled, every.reviewed, every.passed, every.failed,
                   cell(every.pass_rate, fmt="0%"), every.open])
        ws.append([cell("Open QA findings"), cell(stats.open_findings, bold=True),
                   cell("rows a QA Fail opened (overturned or rework) that are still open")])
        for (rule, version), n in sorted(stats.overturned.items()):
            ws.append([cell(f"QA fails: rule {rule} version {version}"), n])
    for row in change_rows(stats.latest_change, cell):
        ws.append(row)
    if stats.appeal_gaps:
        ws.append([])
        ws.append([cell(h, bold=True) for h in ("Appeal documentation gaps", "Denial category", "Open with gaps",
                                                   "Deadline missed")])
        for (payer, category), g in sorted(stats.appeal_gaps.items()):
            ws.append([cell(payer), cell(category), g.open_with_gaps, g.missed])
        ws.append([cell("Appeal deadlines missed", bold=True), cell(stats.deadlines_missed, bold=True)])
    if stats.notices:
        ws.append([])
        ws.append([cell("Not merged or restored (last 7 days)", bold=True)])
        for when, text in stats.notices:
            ws.append([cell(when), cell(text)])
    ws.protection = SheetProtection(sheet=True, selectLockedCells=False, selectUnlockedCells=False,
                                    formatColumns=False)
    return ws
