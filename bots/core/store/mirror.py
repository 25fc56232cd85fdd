"""The workbook's mirror in the store: coder edits and Bot Checks written back to exception rows,
and which rows the workbook file already shows (``written_at``).

A row is *pending* (``written_at`` null) from any change until a workbook write shows it exactly
as it now is; :func:`exception_fingerprint` is what "exactly" compares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from bots.core.store.base import StoreBase, chunks as _chunks
from bots.core.store.schema import exceptions

__all__ = ["EXCEPTION_FINGERPRINT", "MirrorStore", "exception_fingerprint"]

EXCEPTION_FINGERPRINT = tuple(c.name for c in exceptions.columns if c.name != "written_at")
exception_fingerprint = itemgetter(*EXCEPTION_FINGERPRINT)  # a row dict → every column but written_at
_CHUNK = 900  # ids per IN (...) list: below SQLite's variable limit


class MirrorStore(StoreBase):
    # ---- the workbook mirror -------------------------------------------------------------------
    def save_coder_edits(self, conn: Connection, edits: Sequence[Mapping[str, Any]]) -> None:
        """Write coder columns read back from the workbook, in the caller's transaction.

        Each edit names ``exception_id`` and the columns to set (the same columns in every edit:
        coder fields, ``bot_check``, ``coder_updated_at``); each row becomes pending again.
        """
        if not edits:
            return
        columns = [k for k in edits[0] if k != "exception_id"]
        conn.execute(
            update(exceptions).where(exceptions.c.exception_id == bindparam("b_exception_id"))
            .values(written_at=None, **{k: bindparam(f"b_{k}") for k in columns}),
            [{f"b_{k}": e[k] for k in ("exception_id", *columns)} for e in edits])

    def set_bot_checks(self, conn: Connection, checks: Mapping[str, str | None]) -> None:
        """Set Bot Check (None clears it) on these exception ids; each row becomes pending again."""
        self.save_coder_edits(conn, [{"exception_id": i, "bot_check": c} for i, c in checks.items()])

    def mark_written(self, shown: Mapping[str, tuple[Any, ...]], at: str) -> int:
        """Set ``written_at`` on pending rows still exactly as the workbook shows them (``shown``:
        exception id → :func:`exception_fingerprint` of the row written); return how many stay pending."""
        with self.begin() as conn:
            current = conn.execute(select(*(exceptions.c[n] for n in EXCEPTION_FINGERPRINT))
                                   .where(exceptions.c.written_at.is_(None))).all()
            done = [r[0] for r in current if shown.get(r[0]) == tuple(r)]
            for chunk in _chunks(done, _CHUNK):
                conn.execute(update(exceptions).where(exceptions.c.exception_id.in_(chunk),
                                                      exceptions.c.written_at.is_(None)).values(written_at=at))
            return len(current) - len(done)

    def unwritten_count(self) -> int:
        """Exception rows changed since the last workbook write (pending)."""
        with self.read() as conn:
            return conn.execute(select(func.count()).select_from(exceptions)
                                .where(exceptions.c.written_at.is_(None))).scalar_one()

    def bot_check_rows(self) -> list[dict[str, Any]]:
        """Rows with a Bot Check (exception_id, queue, bot_check), by queue then id."""
        ex = exceptions.c
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(ex.exception_id, ex.queue, ex.bot_check).where(ex.bot_check.is_not(None), ex.bot_check != "")
                .order_by(ex.queue, ex.exception_id))]
