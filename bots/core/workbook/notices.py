"""What a write tells people it could not do: the merge's problems in words, and the notices the
Summary keeps for a week (``Not merged or restored``), so a coder learns it from the workbook and
not from a log. Times are shown in the site's zone (``bots.core.times``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bots.core.logging import get_logger
from bots.core.settings import Settings
from bots.core.store import utcnow
from bots.core.times import display_zone
from bots.core.workbook.layout import sheet_title

if TYPE_CHECKING:
    from bots.core.workbook.sync import MergeResult

__all__ = ["NOTICE_DAYS", "NOTICE_LIMIT", "local_time", "merge_problems", "recent_notices"]

NOTICE_DAYS = 7  # how long the Summary keeps saying what a write could not merge
NOTICE_LIMIT = 20

log = get_logger("bots.workbook")


def local_time(settings: Settings, iso_utc: str | None) -> str:
    if not iso_utc:
        return "an unknown time"
    stamp = datetime.fromisoformat(iso_utc).replace(tzinfo=UTC).astimezone(display_zone(settings))
    return stamp.strftime("%Y-%m-%d %H:%M")


def recent_notices(last: dict[str, Any], problems: list[str], now: str) -> list[dict[str, str]]:
    """This sync's problems and those of the last week, newest first, one entry per text."""
    cutoff = (utcnow() - timedelta(days=NOTICE_DAYS)).isoformat(timespec="seconds")
    kept = {n["text"]: n["at"] for n in last.get("notices", []) if n.get("at", "") >= cutoff}
    kept.update(dict.fromkeys(problems, now))
    newest = sorted(kept.items(), key=lambda kv: kv[1], reverse=True)[:NOTICE_LIMIT]
    return [{"at": at, "text": text} for text, at in newest]


def merge_problems(result: MergeResult) -> None:
    """Say in ``result.problems`` (and the log) which file rows the merge could not take."""
    if result.unknown:
        result.problems.append(f"{result.unknown} workbook row(s) have an Exception ID the store does not know "
                               "(a workbook from another installation, or a reset store?)")
    if result.archived_seen:
        result.problems.append(f"{len(result.archived_seen)} workbook row(s) show the Exception ID of an archived "
                               f"row (in {', '.join(sorted(set(result.archived_seen.values())))}): archived rows are "
                               "read only and not in the workbook, so entries on them were not saved")
    if result.held:
        result.problems.append(f"{len(result.held)} row(s) show an Exception ID that is on another row too or "
                               "belongs to another claim: their entries were not saved and nothing on them "
                               "syncs until the ID is fixed (see Bot Check)")
        log.warning("workbook_id_conflicts", rows=len(result.held))
    if result.missing:
        per_sheet: dict[str, int] = {}
        for row in result.missing:
            per_sheet[sheet_title(row["queue"])] = per_sheet.get(sheet_title(row["queue"]), 0) + 1
        where = ", ".join(f"{title}: {n}" for title, n in per_sheet.items())
        gone = [t for t in per_sheet if result.readback and t not in result.readback.sheets]
        result.problems.append(
            f"{len(result.missing)} row(s) were missing from the file written at {result.shown_at} ({where}) "
            "and have been restored; edits made on them after the last save could not be read"
            + (f" (sheet {', '.join(repr(t) for t in gone)} was deleted)" if gone else ""))
        log.warning("workbook_rows_restored", rows=len(result.missing), sheets=len(per_sheet),
                    sheets_deleted=len(gone))
    if result.edits:
        log.info("coder_edits_read", edits=result.edits, rows_read=result.readback.rows if result.readback else 0)
