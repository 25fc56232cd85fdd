"""Appeal Preparation rows' own facts (table ``appeals``), beside their exception rows.

Written once when the appeal opens; afterwards only the coder's evidence (mirrored from the
workbook), the bots' one-time marks (escalated, missed, completed, submitted) and the outcome change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from bots.core.store.base import StoreBase
from bots.core.store.schema import appeals, audit, exceptions

__all__ = ["AppealStore"]


class AppealStore(StoreBase):
    def appeals(self, conn: Connection | None = None) -> list[dict[str, Any]]:
        """Every appeal (every column), oldest first."""
        q = select(appeals).order_by(appeals.c.opened_at, appeals.c.appeal_id)
        if conn is not None:
            return [dict(r._mapping) for r in conn.execute(q)]
        with self.read() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def add_appeals(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """New appeals; one already there (the same source row) is left as it is."""
        self.upsert(conn, appeals, [dict(r) for r in rows], ["appeal_id"], update_cols=[])

    def update_appeals(self, conn: Connection, updates: Sequence[Mapping[str, Any]]) -> None:
        """Set columns on appeals: each update names ``appeal_id`` and the columns to set."""
        for u in updates:
            conn.execute(update(appeals).where(appeals.c.appeal_id == bindparam("b_appeal_id"))
                         .values({k: bindparam(f"b_{k}") for k in u if k != "appeal_id"}),
                         {f"b_{k}": v for k, v in u.items()})

    def raise_appeal_rows(self, conn: Connection, appeal_ids: Sequence[str]) -> None:
        """Appeal rows near their deadline with gaps: Review Level Senior, priority High (pending again)."""
        if appeal_ids:
            conn.execute(update(exceptions).where(exceptions.c.exception_id.in_(list(appeal_ids)))
                         .values(review_level="Senior", priority="High", written_at=None))

    def portal_reads(self, conn: Connection, item_ref: str, after: str) -> list[dict[str, Any]]:
        """payer_portal's ``status_read`` records of one claim (``payer:claim``) at or after ``after``
        (ISO UTC), in order."""
        q = (select(audit).where(audit.c.action == "status_read", audit.c.item_ref == item_ref, audit.c.ts >= after)
             .order_by(audit.c.seq))
        return [dict(r._mapping) for r in conn.execute(q)]

    def last_portal_read(self, conn: Connection, item_ref: str) -> dict[str, Any] | None:
        """The latest ``status_read`` record of a claim (``payer:claim``): what the portal showed."""
        q = (select(audit).where(audit.c.action == "status_read", audit.c.item_ref == item_ref)
             .order_by(audit.c.seq.desc()).limit(1))
        row = conn.execute(q).first()
        return dict(row._mapping) if row else None
