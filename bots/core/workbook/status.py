"""``bots workbook status``: what is waiting for the workbook and how the last write went, read from
the store and the folder without touching the file."""

from __future__ import annotations

import time
from typing import Any

from bots.core.lifecycle import RowState
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.workbook.files import backup_path, office_lock
from bots.core.workbook.layout import sheet_title
from bots.core.workbook.sync import META_KEY

__all__ = ["workbook_status"]


def workbook_status(settings: Settings, store: Store) -> dict[str, Any]:
    """For ``bots workbook status``: pending rows, the last write, rows awaiting sync, Bot Check rows, lock."""
    path = settings.workbook_path
    lock = office_lock(path)
    counts = store.exception_counts("bot_status")
    pending = store.unwritten_count()
    checks = store.bot_check_rows()
    archived = store.archive_counts()
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
        "archived_rows": sum(archived.values()),  # rows moved to the archive files (``archive``), by file:
        "archive_files": archived,
        "problems": last.get("problems", []),
        "backups": [str(p) for n in range(1, settings.config.workbook.backups + 1)
                    if (p := backup_path(path, n)).exists()],
    }
