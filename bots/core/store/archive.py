"""The exception rows' archive: which rows the live workbook no longer shows, and where they went.

Rows are never deleted. A closed row (``workbook.archive`` decides which) moves out of the live
workbook into a monthly archive file; here it is only marked (``archived_at``, ``archive_file``),
so the store, the audit trail, the dashboard and ``bots audit show`` still have it. The live
workbook's merge reads :meth:`ArchiveStore.live_rows` only, which is what keeps it small.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection, func, select, update

from bots.core.store.base import StoreBase, chunks
from bots.core.store.mirror import EXCEPTION_FINGERPRINT
from bots.core.store.schema import exceptions

__all__ = ["ArchiveStore"]

_CHUNK = 900  # ids per IN (...) list: below SQLite's variable limit


def _dicts(conn: Connection, q: Any) -> list[dict[str, Any]]:
    result = conn.execute(q)
    keys = list(result.keys())
    return [dict(zip(keys, r, strict=True)) for r in result.all()]


class ArchiveStore(StoreBase):
    def live_rows(self, conn: Connection) -> list[dict[str, Any]]:
        """Every column of the rows the live workbook shows (not archived)."""
        return _dicts(conn, select(exceptions).where(exceptions.c.archived_at.is_(None)))

    def archived_rows(self, conn: Connection, files: Collection[str]) -> list[dict[str, Any]]:
        """Every column of the archived rows whose copy is in one of ``files``."""
        ex = exceptions.c
        return _dicts(conn, select(exceptions).where(ex.archived_at.is_not(None), ex.archive_file.in_(list(files))))

    def archived_among(self, conn: Connection, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """Of these exception ids, the archived rows (every column), by id."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in chunks(sorted(ids), _CHUNK):
            for row in _dicts(conn, select(exceptions).where(exceptions.c.exception_id.in_(chunk),
                                                            exceptions.c.archived_at.is_not(None))):
                out[row["exception_id"]] = row
        return out

    def mark_archived(self, conn: Connection, shown: Mapping[str, tuple[Any, ...]], files: Mapping[str, str],
                      at: str) -> list[str]:
        """Mark archived the rows still exactly as written to their archive file (``shown``: exception id →
        ``exception_fingerprint``; ``files``: id → archive file); return the ids marked. A row a bot found
        again meanwhile differs, stays live and is written to the live workbook as usual."""
        ex = exceptions.c
        done: list[str] = []
        for chunk in chunks(sorted(shown), _CHUNK):
            current = conn.execute(select(*(ex[n] for n in EXCEPTION_FINGERPRINT))
                                   .where(ex.exception_id.in_(chunk), ex.archived_at.is_(None))).all()
            done.extend(r[0] for r in current if shown[r[0]] == tuple(r))
        by_file: dict[str, list[str]] = {}
        for ex_id in done:
            by_file.setdefault(files[ex_id], []).append(ex_id)
        for name, ids in by_file.items():
            for chunk in chunks(ids, _CHUNK):
                conn.execute(update(exceptions).where(ex.exception_id.in_(chunk), ex.archived_at.is_(None))
                             .values(archived_at=at, archive_file=name, written_at=at))
        return done

    def archive_counts(self) -> dict[str, int]:
        """Archived rows per archive file."""
        ex = exceptions.c
        with self.read() as conn:
            return dict(conn.execute(select(ex.archive_file, func.count()).where(ex.archived_at.is_not(None))
                                     .group_by(ex.archive_file)).all())

    def row_places(self, claim_id: str) -> list[dict[str, Any]]:
        """Where a claim's exception rows are: id, queue, Bot Status, ``archived_at``, ``archive_file``."""
        ex = exceptions.c
        with self.read() as conn:
            return _dicts(conn, select(ex.exception_id, ex.queue, ex.bot_status, ex.archived_at, ex.archive_file)
                          .where(ex.claim_id == claim_id).order_by(ex.first_seen, ex.exception_id))
