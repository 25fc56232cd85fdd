"""The exception workbook coders work in (DESIGN section 7): merge, check, write.

The store's ``exceptions`` table is the source of truth for bot-owned fields
and mirrors the coder-owned ones; the workbook is rendered from it. Every sync:

1. takes the writer lock (one writer at a time across processes);
2. reads the coder-owned columns back from the existing workbook, matching
   rows by Exception ID wherever they are, and stores each change with an
   audit record (who resolved what, when). A row whose ID is also on another
   row, or does not fit the claim and rule the row shows, is held: not merged,
   shown again as left, with a Bot Check (``identity``). Rows the file lost
   (deleted rows or sheets) are restored and reported. A file that is not our
   workbook is moved aside, never overwritten;
3. with ``config/quality.toml``, merges the Quality Review sheet and samples new decisions
   (``review``); with a team roster, takes complete escalations (``signoff``), gives open rows
   without an owner one and moves the bots' assignments away from absent people
   (``assignment``); recomputes Bot Check: a ``Resolved`` row needs Resolution, Resolution Note
   and Resolved By before it may be applied (``lifecycle.ready_to_sync``), a Senior row a
   senior's name in Resolved By; a Bot Failures row resolved "Retry by bot" goes back to its bot
   (``Store.retry_by_bot``); with ``config/appeals.toml``, stores the Appeal Preparation sheet's
   evidence, holds an appeal resolved without it, and opens, escalates, flags and closes appeals
   (``appeals``);
4. stops there if Excel or LibreOffice has the workbook open: the rows stay
   pending (``written_at IS NULL``) and the next run writes them;
5. moves closed rows out to the monthly archive files (``archive``; only rows the file just read
   showed, so their edits are merged first);
6. renders the live rows to a temporary file beside it, flushes it to
   disk and renames it over the old one, keeping rotating backups;
7. marks written exactly the rows whose content went into that file, so a
   bot that records an exception mid-write leaves it pending, not lost.

Archived rows are not read (``Store.live_rows``): that is what keeps a year of rows fast.

Kept together because it is the one place that orders a write: lock, read back, merge (identity,
assignment, sign-off, appeals, QA each in its own module), archive, then render under the same
lock. What is left here is that sequence and its bookkeeping (the ``rows_as_of`` mark, backups);
the problems it reports are worded in ``notices``, the rows laid out per sheet in ``sheets``, and
``bots workbook status`` reads in ``status``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from bots.core.appeals import AppealsConfig, load_appeals
from bots.core.lifecycle import RowState, ready_to_sync, retry_by_bot_requested
from bots.core.logging import get_logger
from bots.core.payers import Payers
from bots.core.settings import Settings
from bots.core.quality import QualityConfig, load_quality
from bots.core.store import AuditEntry, Store, exception_fingerprint, utcnow
from bots.core.team import Team, load_team, local_today
from bots.core.times import display_zone
from bots.core.workbook.appeals import appeal_pass, appeal_problems, merge_appeal_edits
from bots.core.workbook.archive import ARCHIVE_DIR, ArchiveResult, archive_closed_rows
from bots.core.workbook.assignment import assign_owners, bot_assigned
from bots.core.workbook.checks import (
    MISSING_CHECK, REWORK_FIELDS, evidence_problems, is_signoff_problem, merged_bot_check, same_entry,
)
from bots.core.workbook.files import (
    copy_aside, move_aside, office_lock, remove_stale_temps, replace_with_backups, temp_path,
    writer_lock,
)
from bots.core.workbook.identity import check_identity, missing_message
from bots.core.workbook.layout import (
    CODER_FIELDS, STATUSES, WorkbookLayout, load_layout,
)
from bots.core.workbook.notices import local_time, merge_problems, recent_notices
from bots.core.workbook.sheets import appeal_items, queue_sheets, sheet_lists
from bots.core.workbook.reader import ReadBack, WorkbookUnreadable, read_coder_columns
from bots.core.workbook.render import SheetRows, render_workbook
from bots.core.workbook.review import review_pass
from bots.core.workbook.signoff import signoff_problems, take_escalations
from bots.core.workbook.summary import summarize
from bots.core.workbook.trends import trend_report

__all__ = ["META_KEY", "MergeResult", "WorkbookResult", "evidence_problems", "merge_coder_edits", "sync_workbook"]

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
    archived: int = 0  # rows this write moved to the archive files
    archive_files: list[str] = field(default_factory=list)  # the archive files it wrote
    archive_seconds: float = 0.0  # of ``seconds``, the archive files' part

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "written": self.written, "message": self.message, "rows": self.rows,
                "pending": self.pending, "edits": self.edits, "problems": self.problems,
                "moved_aside": str(self.moved_aside) if self.moved_aside else None,
                "seconds": round(self.seconds, 2), "archived": self.archived, "archive_files": self.archive_files,
                "archive_seconds": round(self.archive_seconds, 2)}


@dataclass
class MergeResult:
    """Coder edits read back from the workbook and stored (no file written)."""

    edits: int = 0
    unknown: int = 0
    archived_seen: dict[str, str] = field(default_factory=dict)  # file rows showing an archived row's ID -> its file
    busy: str | None = None  # why the file must not be replaced now (open in Excel, cannot be opened)
    problems: list[str] = field(default_factory=list)
    moved_aside: Path | None = None
    readback: ReadBack | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)  # file rows not merged, to show again as left
    covered: set[str] = field(default_factory=set)  # store rows shown by a held row instead of their own
    missing: list[dict[str, Any]] = field(default_factory=list)  # rows the file lost, restored by this write
    as_of: str | None = None  # the merge's transaction time: the file written next holds rows found by then
    file_written_at: str | None = None  # when the file that was read was written (UTC, ISO)
    team: Team | None = None  # the roster the merge used (config/team.toml), for the dropdowns
    quality: QualityConfig | None = None  # config/quality.toml: sampling on, a Quality Review sheet
    samples: list[dict[str, Any]] | None = None  # the Quality Review sheet's rows
    appeals_config: AppealsConfig | None = None  # config/appeals.toml: appeals opened, checklist columns
    payers: Payers | None = None  # the payer files (their appeal windows)
    appeals: dict[str, dict[str, Any]] = field(default_factory=dict)  # appeal id -> its facts (``Store.appeals``)
    today: date | None = None  # the day deadlines are counted against
    shown_at: str = ""  # the same in the workbook's time zone, for messages




# ---- merge -------------------------------------------------------------------------------------

def _apply(store: Store, conn: Connection, readback: ReadBack | None, layout: WorkbookLayout,
           result: MergeResult, shown_as_of: str | None, team: Team | None, today: date) -> None:
    """Store coder edits with audit records, recompute Bot Check; leave all rows in ``result.rows``.

    ``shown_as_of``: the newest row the last written file holds (``first_seen`` at most this);
    such a row missing from ``readback`` was deleted from the file and is restored. The Quality
    Review pass (``review``) goes first, so the rows a QA Fail opens are written by this sync."""
    now = utcnow().isoformat(timespec="microseconds")
    review = review_pass(store, conn, readback, team, result.quality, today, now)
    appeals, appeal_audit = merge_appeal_edits(store, conn, readback, now)
    review.audit.extend(appeal_audit)
    _apply_rows(store, conn, readback, layout, result, shown_as_of, team, today, now, review.audit, appeals)
    opened = appeal_pass(store, conn, result.rows, appeals, result.appeals_config, result.payers, today, now)
    store.append_audit(conn, opened.audit)
    result.appeals, result.today = appeals, today
    if result.quality is not None:
        result.samples = store.qa_samples(conn)


def _apply_rows(store: Store, conn: Connection, readback: ReadBack | None, layout: WorkbookLayout,
                result: MergeResult, shown_as_of: str | None, team: Team | None, today: date, now: str,
                audit: list[AuditEntry], appeals: dict[str, dict[str, Any]]) -> None:
    result.as_of = now  # this transaction sees every row found up to now (BEGIN IMMEDIATE on SQLite)
    rows = store.live_rows(conn)
    by_id = {r["exception_id"]: r for r in rows}
    # The last file held the rows found by then, except archived rows found again after it (``last_seen``
    # is when they came back).
    expected = [r["exception_id"] for r in rows if shown_as_of and r["first_seen"] <= shown_as_of
                and not (r["archive_file"] and r["last_seen"] > shown_as_of)]
    identity = check_identity(readback, by_id, expected)
    if readback is not None:
        archived = store.archived_among(conn, [i for i in readback.seen if i not in by_id])
        result.archived_seen = {i: r["archive_file"] for i, r in archived.items()}
    missing = set(identity.missing)
    coder_updates: list[dict[str, Any]] = []
    check_updates: dict[str, str | None] = {}
    reworked: set[str] = set()
    for ex_id, values in (readback.values.items() if readback else ()):
        row = by_id.get(ex_id)
        if row is None:
            result.unknown += ex_id not in result.archived_seen
            continue
        if ex_id in identity.skip:
            continue
        changed = {f: v for f, v in values.items() if not same_entry(f, v, row[f])}
        if "assigned_to" in changed and changed["assigned_to"] is None and bot_assigned(row):
            del changed["assigned_to"]  # blank leaves the choice to the bots, whose choice this is
        if not changed:
            continue
        row.update(changed)
        row["coder_updated_at"] = now
        row["written_at"] = None
        if any(f in REWORK_FIELDS for f in changed):
            reworked.add(ex_id)
        audit.append(AuditEntry(action="coder_update", bot="workbook", claim_id=row["claim_id"], item_ref=ex_id,
                                detail=changed, result=row["status"] or STATUSES[0], ts=now))
    escalations = take_escalations(rows, team, now)  # before owners: an escalated row is the senior's
    store.escalate_rows(conn, escalations.senior, now)
    store.assign_rows(conn, escalations.owners)
    audit.extend(escalations.audit)
    owners = assign_owners(rows, team, today, now)  # after the edits: a name a coder typed counts
    store.assign_rows(conn, owners.updates)
    audit.extend(owners.audit)
    for row in rows:
        ex_id = row["exception_id"]
        own = (evidence_problems(row, layout) + signoff_problems(row, team) + owners.checks.get(ex_id, [])
               + identity.checks.get(ex_id, []) + appeal_problems(row, appeals.get(ex_id)))
        for problem in own:
            if is_signoff_problem(problem) and problem not in (row["bot_check"] or ""):  # once per occurrence
                audit.append(AuditEntry(action="senior_signoff_missing", result="not_synced", bot="workbook",
                                         claim_id=row["claim_id"], item_ref=ex_id, ts=now,
                                         detail={"resolved_by": row["resolved_by"], "queue": row["queue"]}))
        if ex_id in missing:
            own.append(missing_message(result.shown_at))
            if MISSING_CHECK not in (row["bot_check"] or ""):  # once per loss, not per merge
                audit.append(AuditEntry(action="workbook_row_missing", bot="workbook", claim_id=row["claim_id"],
                                         item_ref=ex_id, detail={"file_written_at": result.file_written_at},
                                         result=row["status"] or STATUSES[0], ts=now))
        check = merged_bot_check(row["bot_check"], own, ex_id in reworked)
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
    result.edits = sum(1 for a in audit if a.action == "coder_update")
    _retry_requested(store, conn, [r for r in rows if r["coder_updated_at"] == now], audit, now)
    store.append_audit(conn, audit)
    result.rows = rows
    result.held = identity.display_rows(by_id)
    result.covered = identity.covered()
    result.missing = [by_id[i] for i in identity.missing]


def _retry_requested(store: Store, conn: Connection, touched: list[dict[str, Any]], audit: list[AuditEntry],
                     now: str) -> None:
    """Bot Failures rows a coder just resolved "Retry by bot" go back to their bots
    (``Store.retry_by_bot``: the item reopens, the row turns Synced)."""
    for row in touched:
        if retry_by_bot_requested(row):
            audit.append(store.retry_by_bot(conn, row, now))
            row.update(bot_status=RowState.SYNCED, synced_at=now, written_at=None)


def _merge(settings: Settings, store: Store, layout: WorkbookLayout, path: Path,
           today: date | None = None) -> MergeResult:
    """Steps 2 and 3 of the module docstring. Call under :func:`writer_lock`. ``today``: the day
    absences on the team roster are read against (default: today in the site's zone)."""
    team = load_team(settings)
    lock = office_lock(path)
    result = MergeResult(busy=f"{lock.name} present" if lock else None, team=team, quality=load_quality(settings),
                         appeals_config=load_appeals(settings), payers=settings.payers)
    last = store.get_meta(META_KEY, {}) or {}
    result.file_written_at = last.get("last_written_at")
    result.shown_at = local_time(settings, result.file_written_at)
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
    elif last.get("last_written_at"):
        result.problems.append(f"{path.name} was not found (last written {result.shown_at}): it is written again "
                               "from the bots' store; edits made in it after the last save could not be read")
        log.warning("workbook_missing", last_written_at=last.get("last_written_at"))
    # Only a file we wrote and could read tells which rows were deleted from it.
    shown_as_of = last.get("rows_as_of") if result.readback is not None else None
    with store.begin() as conn:
        _apply(store, conn, result.readback, layout, result, shown_as_of, team, today or local_today(settings))
    merge_problems(result)
    return result


def merge_coder_edits(settings: Settings, store: Store, *, today: date | None = None) -> MergeResult:
    """Read coder edits back and store them without writing the workbook.

    For the bot that applies resolutions to call before ``Store.ready_resolutions``, so
    resolutions saved since the last bot run are seen. Safe while the workbook is open.
    """
    path = settings.workbook_path
    with writer_lock(path) as acquired:
        if not acquired:
            return MergeResult(problems=["another workbook write is still running; edits not read"])
        merged = _merge(settings, store, load_layout(settings), path, today)
    merged.rows = []
    return merged


# ---- write -------------------------------------------------------------------------------------

def _remember(store: Store, result: WorkbookResult, notices: list[dict[str, str]] | None = None,
              rows_as_of: str | None = None) -> None:
    last = store.get_meta(META_KEY, {}) or {}
    now = utcnow().isoformat(timespec="seconds")
    record = {**last, "at": now, "written": result.written, "message": result.message, "pending": result.pending,
              "problems": result.problems}
    if notices is not None:
        record["notices"] = notices
    if result.written:
        record.update(last_written_at=now, last_written_rows=result.rows, rows_as_of=rows_as_of)
    store.set_meta(META_KEY, record)


def _write_file(path: Path, sheets: list[SheetRows], settings: Settings, layout: WorkbookLayout,
                ready: set[str], notices: list[dict[str, str]], merged: MergeResult, trends: Any = None,
                latest_change: dict[str, Any] | None = None, archived: dict[str, int] | None = None) -> int:
    """Render to a temporary file beside ``path``, flush it to disk, rename it into place."""
    tmp = temp_path(path)
    try:
        with tmp.open("wb") as fh:
            tz = display_zone(settings)
            shown = [(local_time(settings, n["at"]), n["text"]) for n in notices]
            stats = summarize(sheets, utcnow(), ready, shown, merged.samples)
            stats.latest_change = latest_change
            stats.archived, stats.archive_after_days = archived or {}, settings.config.workbook.archive_after_days
            written = render_workbook(fh, sheets, stats, layout,
                                      tz=tz, base_dir=path.parent, trends=trends, **sheet_lists(merged))
            fh.flush()
            os.fsync(fh.fileno())
        settings.file_access.workbook(tmp)  # its mode before it takes the workbook's name
        replace_with_backups(tmp, path, settings.config.workbook.backups)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def _archive(settings: Settings, store: Store, layout: WorkbookLayout, merged: MergeResult) -> ArchiveResult:
    """Step 5: closed rows the file just read showed go to the archive files. A file we wrote that could
    not be read (missing, moved aside) archives nothing: edits on its rows may still be re-entered."""
    if merged.readback is not None:
        seen: set[str] | None = set(merged.readback.seen)
    elif (store.get_meta(META_KEY, {}) or {}).get("last_written_at"):
        return ArchiveResult()
    else:
        seen = None  # no workbook was ever written: nobody could have typed anything
    try:
        return archive_closed_rows(settings, store, layout, merged.rows, seen, merged.appeals, appeal_items(merged),
                                   merged.today or utcnow().date())
    except Exception as exc:  # never at the cost of the live write: rows not marked archived stay live
        log.exception("archive_failed", error_type=type(exc).__name__)
        return ArchiveResult(problems=[f"closed rows could not be archived ({type(exc).__name__}); they stay in "
                                       "the workbook and are archived at a later write"])


def sync_workbook(settings: Settings, store: Store, *, today: date | None = None) -> WorkbookResult:
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
        merged = _merge(settings, store, layout, path, today)
        problems = list(merged.problems)
        rows = merged.rows
        snapshot = {r["exception_id"]: exception_fingerprint(r) for r in rows if r["written_at"] is None}
        result = WorkbookResult(path, False, "", edits=merged.edits, problems=problems,
                                moved_aside=merged.moved_aside)
        notices: list[dict[str, str]] | None = None
        if merged.busy:
            result.pending = len(snapshot)
            result.message = (f"workbook busy ({merged.busy}): {result.pending} rows pending; "
                              "they will be written on the next run")
            log.warning("workbook_busy", reason=merged.busy, pending=result.pending, edits=merged.edits)
        else:
            if merged.readback is not None and (merged.readback.keep_copy or merged.unknown or merged.archived_seen) \
                    and path.exists():
                kept = copy_aside(path, "unmerged")
                problems.append(f"the previous workbook was kept as {kept.name} because part of it could not "
                                "be merged (see the problems above)")
            archived = _archive(settings, store, layout, merged)
            problems.extend(archived.problems)
            if archived.archived:  # out of this write: the live file no longer shows them
                rows = merged.rows = [r for r in rows if r["exception_id"] not in archived.archived]
                for ex_id in archived.archived:
                    snapshot.pop(ex_id, None)
            result.archived, result.archive_files = len(archived.archived), archived.files
            result.archive_seconds = archived.seconds
            sheets = queue_sheets(merged, problems)
            ready = {r["exception_id"] for r in rows if ready_to_sync(r)}
            notices = recent_notices(store.get_meta(META_KEY, {}) or {}, problems,
                                     utcnow().isoformat(timespec="seconds"))
            try:
                result.rows = _write_file(path, sheets, settings, layout, ready, notices, merged,
                                          trend_report(settings, store), store.latest_change(), store.archive_counts())
                result.written = True
            except Exception as exc:  # disk full, permission denied, file locked on Windows
                log.exception("workbook_write_failed", error_type=type(exc).__name__)
                result.pending = store.unwritten_count()
                result.message = (f"workbook not written ({type(exc).__name__}: {exc}): {result.pending} rows "
                                  "pending; they will be written on the next run")
            if result.written:
                result.pending = store.mark_written(snapshot, utcnow().isoformat(timespec="microseconds"))
                result.message = f"wrote {result.rows} rows to {path}"
                if result.archived:
                    result.message += (f" after moving {result.archived} closed row(s) to "
                                       f"{len(result.archive_files)} archive file(s) in {ARCHIVE_DIR}/")
                if merged.edits:
                    result.message += f" ({merged.edits} coder edit(s) read back)"
                if result.pending:
                    result.message += f"; {result.pending} rows changed during the write and stay pending"
    if problems:
        result.message += "; " + "; ".join(problems)
    result.seconds = time.monotonic() - started
    _remember(store, result, notices if result.written else None, merged.as_of)
    log.info("workbook_synced", written=result.written, rows=result.rows, pending=result.pending,
             edits=result.edits, problems=len(problems), seconds=round(result.seconds, 2))
    return result
