"""The exception workbook coders work in (DESIGN section 7): merge, check, write.

The store's ``exceptions`` table is the source of truth for bot-owned fields
and mirrors the coder-owned ones; the workbook is rendered from it. Every sync:

1. takes the writer lock (one writer at a time across processes);
2. reads the coder-owned columns back from the existing workbook, matching
   rows by Exception ID wherever they are, and stores each change with an
   audit record (who resolved what, when). A file that is not our workbook
   is moved aside, never overwritten;
3. recomputes Bot Check: a ``Resolved`` row needs Resolution, Resolution Note
   and Resolved By before it may be applied (``lifecycle.ready_to_sync``); a Bot
   Failures row resolved "Retry by bot" goes back to its bot (``Store.retry_by_bot``);
4. stops there if Excel or LibreOffice has the workbook open: the rows stay
   pending (``written_at IS NULL``) and the next run writes them;
5. renders the whole workbook to a temporary file beside it, flushes it to
   disk and renames it over the old one, keeping rotating backups;
6. marks written exactly the rows whose content went into that file, so a
   bot that records an exception mid-write leaves it pending, not lost.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from bots.core.lifecycle import RowState, ready_to_sync, retry_by_bot_requested
from bots.core.logging import get_logger
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store, exception_fingerprint, utcnow
from bots.core.workbook.checks import REWORK_FIELDS, evidence_problems, merged_bot_check, same_entry
from bots.core.workbook.files import (
    backup_path, copy_aside, move_aside, office_lock, remove_stale_temps, replace_with_backups, temp_path,
    writer_lock,
)
from bots.core.workbook.layout import (
    CODER_FIELDS, QUEUE_SHEETS, STATUSES, WorkbookLayout, load_layout, sheet_title,
)
from bots.core.workbook.reader import ReadBack, WorkbookUnreadable, read_coder_columns
from bots.core.workbook.render import SheetRows, render_workbook
from bots.core.workbook.summary import summarize

__all__ = [
    "MergeResult", "WorkbookResult", "evidence_problems", "merge_coder_edits", "sync_workbook", "workbook_status",
]

META_KEY = "workbook"

log = get_logger("bots.workbook")


@dataclass
class WorkbookResult:
    """What one sync did. ``pending`` rows are in the store but not yet in the file."""

    path: Path
    written: bool
    message: str
    rows: int = 0
    pending: int = 0
    edits: int = 0
    problems: list[str] = field(default_factory=list)
    moved_aside: Path | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "written": self.written, "message": self.message, "rows": self.rows,
                "pending": self.pending, "edits": self.edits, "problems": self.problems,
                "moved_aside": str(self.moved_aside) if self.moved_aside else None,
                "seconds": round(self.seconds, 2)}


@dataclass
class MergeResult:
    """Coder edits read back from the workbook and stored (no file written)."""

    edits: int = 0
    unknown: int = 0
    busy: str | None = None  # why the file must not be replaced now (open in Excel, cannot be opened)
    problems: list[str] = field(default_factory=list)
    moved_aside: Path | None = None
    readback: ReadBack | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)




# ---- merge -------------------------------------------------------------------------------------

def _apply(store: Store, conn: Connection, readback: ReadBack | None, layout: WorkbookLayout,
           result: MergeResult) -> None:
    """Store coder edits with audit records, recompute Bot Check; leave all rows in ``result.rows``."""
    now = utcnow().isoformat(timespec="microseconds")
    rows = store.exception_rows(conn=conn)
    by_id = {r["exception_id"]: r for r in rows}
    coder_updates: list[dict[str, Any]] = []
    check_updates: dict[str, str | None] = {}
    audit: list[AuditEntry] = []
    reworked: set[str] = set()
    for ex_id, values in (readback.values.items() if readback else ()):
        row = by_id.get(ex_id)
        if row is None:
            result.unknown += 1
            continue
        changed = {f: v for f, v in values.items() if not same_entry(f, v, row[f])}
        if not changed:
            continue
        row.update(changed)
        row["coder_updated_at"] = now
        row["written_at"] = None
        if any(f in REWORK_FIELDS for f in changed):
            reworked.add(ex_id)
        audit.append(AuditEntry(action="coder_update", bot="workbook", claim_id=row["claim_id"], item_ref=ex_id,
                                detail=changed, result=row["status"] or STATUSES[0], ts=now))
    for row in rows:
        ex_id = row["exception_id"]
        check = merged_bot_check(row["bot_check"], evidence_problems(row, layout), ex_id in reworked)
        touched = row["coder_updated_at"] == now
        if check != row["bot_check"] or touched:
            row["bot_check"] = check
            row["written_at"] = None
            if touched:
                coder_updates.append({"exception_id": ex_id, "bot_check": check, "coder_updated_at": now,
                                      **{f: row[f] for f in CODER_FIELDS}})
            else:
                check_updates[ex_id] = check
    store.save_coder_edits(conn, coder_updates)
    store.set_bot_checks(conn, check_updates)
    result.edits = len(audit)
    _retry_requested(store, conn, [r for r in rows if r["coder_updated_at"] == now], audit, now)
    store.append_audit(conn, audit)
    result.rows = rows


def _retry_requested(store: Store, conn: Connection, touched: list[dict[str, Any]], audit: list[AuditEntry],
                     now: str) -> None:
    """Bot Failures rows a coder just resolved "Retry by bot" go back to their bots
    (``Store.retry_by_bot``: the item reopens, the row turns Synced)."""
    for row in touched:
        if retry_by_bot_requested(row):
            audit.append(store.retry_by_bot(conn, row, now))
            row.update(bot_status=RowState.SYNCED, synced_at=now, written_at=None)


def _merge(settings: Settings, store: Store, layout: WorkbookLayout, path: Path) -> MergeResult:
    """Steps 2 and 3 of the module docstring. Call under :func:`writer_lock`."""
    lock = office_lock(path)
    result = MergeResult(busy=f"{lock.name} present" if lock else None)
    if path.exists():
        try:
            result.readback = read_coder_columns(path)
            result.problems.extend(result.readback.problems)
        except OSError as exc:  # permission denied, a share gone away: not the file's fault
            result.busy = result.busy or f"cannot open {path.name}: {type(exc).__name__}: {exc}"
        except WorkbookUnreadable as exc:
            if result.busy:  # Excel may be mid-save; look again next run, touch nothing
                result.problems.append(f"{path.name} could not be read while it is open ({exc}); "
                                       "coder edits will be read on the next run")
            else:
                result.moved_aside = move_aside(path, "corrupt")
                result.problems.append(
                    f"{path.name} is not a readable exception workbook ({exc}): moved aside to "
                    f"{result.moved_aside.name}; coder edits in it could not be read, so any made since the "
                    "last write must be re-entered from that file by hand")
                log.error("workbook_moved_aside", reason=str(exc), moved_to=str(result.moved_aside))
    with store.begin() as conn:
        _apply(store, conn, result.readback, layout, result)
    if result.unknown:
        result.problems.append(f"{result.unknown} workbook row(s) have an Exception ID the store does not know "
                               "(a workbook from another installation, or a reset store?)")
    if result.edits:
        log.info("coder_edits_read", edits=result.edits, rows_read=result.readback.rows if result.readback else 0)
    return result


def merge_coder_edits(settings: Settings, store: Store) -> MergeResult:
    """Read coder edits back and store them without writing the workbook.

    For the bot that applies resolutions to call before ``Store.ready_resolutions``, so
    resolutions saved since the last bot run are seen. Safe while the workbook is open.
    """
    path = settings.workbook_path
    with writer_lock(path) as acquired:
        if not acquired:
            return MergeResult(problems=["another workbook write is still running; edits not read"])
        merged = _merge(settings, store, load_layout(settings), path)
    merged.rows = []
    return merged


# ---- write -------------------------------------------------------------------------------------

def _timezone(settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _sheets(rows: list[dict[str, Any]], order: dict[str, int], problems: list[str]) -> list[SheetRows]:
    """Rows per sheet. Rows already in the workbook keep the coders' order; new rows follow,
    oldest first."""
    by_sheet: dict[str, SheetRows] = {q: SheetRows(q, q, []) for q in QUEUE_SHEETS}
    for row in rows:
        title = sheet_title(row["queue"])
        if title not in by_sheet:
            by_sheet[title] = SheetRows(title, row["queue"], [])
        by_sheet[title].rows.append(row)
    unplaced = len(order)
    for sheet in by_sheet.values():
        sheet.rows.sort(key=lambda r: (order.get(r["exception_id"], unplaced), r["first_seen"], r["exception_id"]))
    extra = [t for t in by_sheet if t not in QUEUE_SHEETS]
    for title in extra:
        problems.append(f"queue {by_sheet[title].queue!r} is not one of the workbook's sheets: its "
                        f"{len(by_sheet[title].rows)} row(s) are on sheet {title!r}")
    return [by_sheet[q] for q in QUEUE_SHEETS] + [by_sheet[t] for t in sorted(extra)]


def _remember(store: Store, result: WorkbookResult) -> None:
    last = store.get_meta(META_KEY, {}) or {}
    now = utcnow().isoformat(timespec="seconds")
    record = {**last, "at": now, "written": result.written, "message": result.message, "pending": result.pending,
              "problems": result.problems}
    if result.written:
        record.update(last_written_at=now, last_written_rows=result.rows)
    store.set_meta(META_KEY, record)


def _write_file(path: Path, sheets: list[SheetRows], settings: Settings, layout: WorkbookLayout,
                ready: set[str]) -> int:
    """Render to a temporary file beside ``path``, flush it to disk, rename it into place."""
    tmp = temp_path(path)
    try:
        with tmp.open("wb") as fh:
            written = render_workbook(fh, sheets, summarize(sheets, utcnow(), ready), layout,
                                      tz=_timezone(settings), base_dir=path.parent)
            fh.flush()
            os.fsync(fh.fileno())
        settings.file_access.workbook(tmp)  # its mode before it takes the workbook's name
        replace_with_backups(tmp, path, settings.config.workbook.backups)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def sync_workbook(settings: Settings, store: Store) -> WorkbookResult:
    """Merge coder edits, then write the whole workbook (see the module docstring).

    Never loses a row: when the workbook is open or the write fails, the rows
    stay pending in the store and ``message`` says how many.
    """
    started = time.monotonic()
    path = settings.workbook_path
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = load_layout(settings)
    with writer_lock(path) as acquired:
        if not acquired:
            pending = store.unwritten_count()
            result = WorkbookResult(path, False, f"another workbook write is still running: {pending} rows "
                                    "pending; they will be written on the next run", pending=pending)
            _remember(store, result)
            return result
        remove_stale_temps(path)
        merged = _merge(settings, store, layout, path)
        problems = list(merged.problems)
        rows = merged.rows
        snapshot = {r["exception_id"]: exception_fingerprint(r) for r in rows if r["written_at"] is None}
        result = WorkbookResult(path, False, "", edits=merged.edits, problems=problems,
                                moved_aside=merged.moved_aside)
        if merged.busy:
            result.pending = len(snapshot)
            result.message = (f"workbook busy ({merged.busy}): {result.pending} rows pending; "
                              "they will be written on the next run")
            log.warning("workbook_busy", reason=merged.busy, pending=result.pending, edits=merged.edits)
        else:
            if merged.readback is not None and (merged.readback.keep_copy or merged.unknown) and path.exists():
                kept = copy_aside(path, "unmerged")
                problems.append(f"the previous workbook was kept as {kept.name} because part of it could not "
                                "be merged (see the problems above)")
            sheets = _sheets(rows, merged.readback.order if merged.readback else {}, problems)
            ready = {r["exception_id"] for r in rows if ready_to_sync(r)}
            try:
                result.rows = _write_file(path, sheets, settings, layout, ready)
                result.written = True
            except Exception as exc:  # disk full, permission denied, file locked on Windows
                log.exception("workbook_write_failed", error_type=type(exc).__name__)
                result.pending = store.unwritten_count()
                result.message = (f"workbook not written ({type(exc).__name__}: {exc}): {result.pending} rows "
                                  "pending; they will be written on the next run")
            if result.written:
                result.pending = store.mark_written(snapshot, utcnow().isoformat(timespec="microseconds"))
                result.message = f"wrote {result.rows} rows to {path}"
                if merged.edits:
                    result.message += f" ({merged.edits} coder edit(s) read back)"
                if result.pending:
                    result.message += f"; {result.pending} rows changed during the write and stay pending"
    if problems:
        result.message += "; " + "; ".join(problems)
    result.seconds = time.monotonic() - started
    _remember(store, result)
    log.info("workbook_synced", written=result.written, rows=result.rows, pending=result.pending,
             edits=result.edits, problems=len(problems), seconds=round(result.seconds, 2))
    return result


# ---- status --------------------------------------------------------------------------------------

def workbook_status(settings: Settings, store: Store) -> dict[str, Any]:
    """For ``bots workbook status``: pending rows, the last write, rows awaiting sync, Bot Check rows, lock."""
    path = settings.workbook_path
    lock = office_lock(path)
    counts = store.exception_counts("bot_status")
    pending = store.unwritten_count()
    checks = store.bot_check_rows()
    last = store.get_meta(META_KEY, {}) or {}
    lock_age = None
    if lock is not None:
        try:
            lock_age = round((time.time() - lock.stat().st_mtime) / 60, 1)
        except OSError:
            lock_age = None
    return {
        "path": str(path),
        "exists": path.exists(),
        "lock_present": lock is not None,
        "lock_file": str(lock) if lock else None,
        "lock_age_minutes": lock_age,
        "rows": sum(counts.values()),
        "open_rows": counts.get(RowState.OPEN, 0),
        "cleared_rows": counts.get(RowState.CLEARED, 0),
        "synced_rows": counts.get(RowState.SYNCED, 0),
        "pending_rows": pending,
        "awaiting_sync": len(store.ready_resolutions()),
        "bot_check_rows": len(checks),
        "bot_checks": [{"exception_id": c["exception_id"], "sheet": sheet_title(c["queue"]), "bot_check": c["bot_check"]}
                       for c in checks[:20]],
        "last_attempt_at": last.get("at"),
        "last_result": last.get("message"),
        "last_attempt_written": last.get("written"),
        "last_written_at": last.get("last_written_at"),
        "last_written_rows": last.get("last_written_rows"),
        "problems": last.get("problems", []),
        "backups": [str(p) for n in range(1, settings.config.workbook.backups + 1)
                    if (p := backup_path(path, n)).exists()],
    }
