"""A year of rows: closed rows leave the live workbook for monthly archive files.

Rows are never deleted, so without this the live workbook grows by every finding ever made and,
after a year, takes minutes to write and will not open in Excel. At each write (not at a
merge without a write, and never while the workbook is open), after the coders' edits were merged,
a row moves to ``archive/<stem>-YYYY-MM.xlsx`` beside the workbook when it is *closed*:

- the bots no longer report it (Bot Status Cleared or Synced) and it has no Bot Check (nothing
  for a person to fix);
- no coder is on it: Status blank, New or Resolved (In Progress, Escalated or any other text keep
  it live), and it is not a resolution still waiting for status_sync (``ready_to_sync``) nor a
  submitted appeal still waiting for the payer's answer (its outcome is read from the live row);
- it closed ``[workbook] archive_after_days`` ago or more (default 30; 0 turns archiving off).
  Closed at = the latest of Last Seen (a clear), the sync and the last coder edit merged, so
  a coder's late note restarts the clock; YYYY-MM is that moment's UTC month, as the dashboard's;
- the file the merge just read showed it (so whatever a coder typed on it is merged first), or
  no workbook was ever written. A workbook that was written but is missing or unreadable
  archives nothing until a file of ours is read back.

Each month's file is written whole from the store (temporary file, fsync, rename; modes as the
workbook's, ``file_access``): the rows already archived to it and the new ones, the live sheets'
columns with the coder columns as last merged, every cell locked. Only months that gained rows
(or whose file is gone) are written. The files come first, then one transaction marks the rows
archived (``archived_at``, ``archive_file``; only rows still exactly as written: one a bot found
again meanwhile stays live) with one ``rows_archived`` audit record per file listing its ids. A
crash between the two leaves rows live and in a file too; the next write archives them again.

A row found again (``record_exceptions_many``) is live again with its history and Bot Check; the
month file keeps its old copy until that month is next written. The store is the record; an
archive file is a read-only view of it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet.protection import SheetProtection

from bots.core.lifecycle import APPEAL_PREPARATION, CoderStatus, RowState, ready_to_sync
from bots.core.logging import get_logger
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store, exception_fingerprint
from bots.core.times import display_zone, show_time
from bots.core.workbook.appeals import appeal_view
from bots.core.workbook.files import fsync_dir, remove_stale_temps, temp_path
from bots.core.workbook.layout import QUEUE_SHEETS, WorkbookLayout, sheet_title
from bots.core.workbook.render import SheetRows, render_archive

__all__ = ["ARCHIVE_DIR", "ArchiveResult", "archivable", "archive_closed_rows", "closed_at"]

ARCHIVE_DIR = "archive"
COVER_SHEET = "Archive"
_MONTH = re.compile(r"-(\d{4}-\d{2})\.[^./]+$")
_CODER_CLOSED = {"", CoderStatus.NEW.casefold(), CoderStatus.RESOLVED.casefold()}

log = get_logger("bots.workbook")


@dataclass
class ArchiveResult:
    """What one archive pass did: rows moved out of the live workbook, files written."""

    archived: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def closed_at(row: Mapping[str, Any]) -> str:
    """When the row last closed or was last touched by a coder (ISO UTC, as stored)."""
    return max(row["last_seen"] or "", row["synced_at"] or "", row["coder_updated_at"] or "")


def archivable(row: Mapping[str, Any], cutoff: str, appeals: Mapping[str, Mapping[str, Any]]) -> bool:
    """Closed at or before ``cutoff`` and nothing left for a bot or a person (module docstring)."""
    if row["bot_status"] not in RowState.CLOSED or row["bot_check"]:
        return False
    if (row["status"] or "").strip().casefold() not in _CODER_CLOSED or ready_to_sync(row):
        return False
    appeal = appeals.get(row["exception_id"])
    if appeal is not None and appeal["submitted_at"] and not appeal["outcome"]:
        return False
    return closed_at(row) <= cutoff


def archive_name(workbook: Path, month: str) -> str:
    """``archive/exceptions-2026-08.xlsx``: relative to the workbook's folder, as the store keeps it."""
    return f"{ARCHIVE_DIR}/{workbook.stem}-{month}{workbook.suffix}"


def archive_closed_rows(settings: Settings, store: Store, layout: WorkbookLayout, rows: list[dict[str, Any]],
                        seen: Collection[str] | None, appeals: Mapping[str, Mapping[str, Any]],
                        appeal_items: list[str], today: date) -> ArchiveResult:
    """Archive the closed rows among ``rows`` (the merge's live rows); ``seen``: the ids the file just
    read showed (None: no workbook was ever written). Call under the writer lock, after the merge."""
    out = ArchiveResult()
    days = settings.config.workbook.archive_after_days
    if not days:
        return out
    started = time.monotonic()
    now = datetime.now(UTC).replace(tzinfo=None)
    cutoff = (now - timedelta(days=days)).isoformat(timespec="microseconds")
    workbook = settings.workbook_path
    by_file: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if (seen is None or row["exception_id"] in seen) and archivable(row, cutoff, appeals):
            by_file.setdefault(archive_name(workbook, closed_at(row)[:7]), []).append(row)
    new = {r["exception_id"]: name for name, group in by_file.items() for r in group}
    for name in store.archive_counts():  # a file someone deleted is written again from the store
        if not (workbook.parent / name).exists():
            by_file.setdefault(name, [])
    if not by_file:
        return out
    with store.read() as conn:
        for row in store.archived_rows(conn, list(by_file)):
            by_file[row["archive_file"]].append(row)
    shown: dict[str, tuple[Any, ...]] = {}
    for name, group in sorted(by_file.items()):
        try:
            _write(settings, layout, workbook.parent / name, name, group, appeals, appeal_items, today, now)
        except OSError as exc:  # disk full, permission denied: these rows stay live and are tried next write
            log.error("archive_write_failed", file=name, error_type=type(exc).__name__)
            out.problems.append(f"{name} could not be written ({type(exc).__name__}: {exc}): its rows stay in "
                                "the workbook and are archived at a later write")
            continue
        out.files.append(name)
        shown.update((r["exception_id"], exception_fingerprint(r)) for r in group if r["exception_id"] in new)
    at = now.isoformat(timespec="microseconds")
    with store.begin() as conn:
        done = store.mark_archived(conn, shown, new, at)
        per_file: dict[str, list[str]] = {}
        for ex_id in done:
            per_file.setdefault(new[ex_id], []).append(ex_id)
        store.append_audit(conn, [
            AuditEntry(action="rows_archived", bot="workbook", item_ref=name, result="archived", ts=at,
                       detail={"file": name, "rows": len(ids), "archive_after_days": days,
                               "exception_ids": sorted(ids)})
            for name, ids in sorted(per_file.items())])
    out.archived = set(done)
    out.seconds = time.monotonic() - started
    log.info("rows_archived", rows=len(done), files=len(out.files), seconds=round(out.seconds, 2))
    return out


def _sheets(group: list[dict[str, Any]], appeals: Mapping[str, Mapping[str, Any]], items: list[str],
            today: date) -> list[SheetRows]:
    """The file's sheets, one per queue as in the live workbook, rows in the order they closed."""
    by_sheet: dict[str, SheetRows] = {q: SheetRows(q, q, []) for q in QUEUE_SHEETS}
    for row in sorted(group, key=lambda r: (closed_at(r), r["exception_id"])):
        title = sheet_title(row["queue"])
        if title == APPEAL_PREPARATION:
            row = appeal_view(row, dict(appeals[row["exception_id"]]) if row["exception_id"] in appeals else None,
                              items, today)
        by_sheet.setdefault(title, SheetRows(title, row["queue"], [])).rows.append(row)
    return list(by_sheet.values())


def _write(settings: Settings, layout: WorkbookLayout, target: Path, name: str, group: list[dict[str, Any]],
           appeals: Mapping[str, Mapping[str, Any]], items: list[str], today: date, now: datetime) -> None:
    """One month's file: rendered to a temporary file beside it, flushed, given its modes, renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    sheets = _sheets(group, appeals, items, today)
    tz = display_zone(settings)
    tmp = temp_path(target)
    try:
        with tmp.open("wb") as fh:
            render_archive(fh, sheets, lambda wb: _cover(wb, name, sheets, settings, now), layout, tz=tz,
                           base_dir=target.parent, written_at=now, appeal_items=items)
            fh.flush()
            os.fsync(fh.fileno())
        settings.file_access.workbook(tmp)  # owner-only, or the share group's, as the workbook
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _cover(wb: Workbook, name: str, sheets: list[SheetRows], settings: Settings, now: datetime) -> Any:
    """The first sheet: what this file is, that it is read only, and where the live rows are."""
    ws = wb.create_sheet(COVER_SHEET)
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 90
    month = m.group(1) if (m := _MONTH.search(name)) else "?"

    def cell(value: Any, bold: bool = False) -> Any:
        c = WriteOnlyCell(ws, value=value)
        if bold:
            c.font = Font(bold=True)
        return c

    written = show_time(now.replace(tzinfo=UTC), display_zone(settings), seconds=False)
    ws.append([cell(f"Exception archive: rows closed in {month} (UTC)", bold=True)])
    ws.append([cell("Written"), cell(written)])
    ws.append([cell("Read only"), cell(
        f"Rows the bots no longer report and no coder is working, moved here "
        f"{settings.config.workbook.archive_after_days} days after they closed, with the coder columns as "
        f"last saved. Nothing typed here is read back: the live workbook is {settings.workbook_path.name}.")])
    ws.append([cell("Found again"), cell("A row the bots find again goes back to the live workbook with its "
                                         "history (Times Seen, your columns). `bots audit show CLAIM` says "
                                         "where a claim's rows are.")])
    ws.append([])
    ws.append([cell("Sheet", bold=True), cell("Rows", bold=True)])
    for sheet in sheets:
        ws.append([cell(sheet.title), len(sheet.rows)])
    ws.protection = SheetProtection(sheet=True, selectLockedCells=False, selectUnlockedCells=False,
                                    formatColumns=False)
    return ws
