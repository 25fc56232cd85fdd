"""Quality review samples (``bots.core.quality``): the Quality Review sheet's rows in the store.

The sample rows are written once (a rerun samples the same decisions: insert-or-ignore by
Sample ID); afterwards only the reviewer's columns (mirrored from the workbook), the bots' Bot
Check and state, and the follow-up row a Fail opened change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from bots.core.store.base import StoreBase
from bots.core.store.schema import audit, qa_samples

__all__ = ["QualityStore"]

_DECISION_ACTIONS = ("item_outcome", "rule_evaluated", "status_read", "status_pushed")


class QualityStore(StoreBase):
    def qa_samples(self, conn: Connection | None = None) -> list[dict[str, Any]]:
        """Every sample (every column), oldest first."""
        q = select(qa_samples).order_by(qa_samples.c.sampled_at, qa_samples.c.sample_id)
        if conn is not None:
            return [dict(r._mapping) for r in conn.execute(q)]
        with self.read() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def add_samples(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """New samples; one already there is left as it is."""
        self.upsert(conn, qa_samples, [dict(r) for r in rows], ["sample_id"], update_cols=[])

    def update_samples(self, conn: Connection, updates: Sequence[Mapping[str, Any]]) -> None:
        """Set columns on samples: each update names ``sample_id`` and the same other columns."""
        groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
        for u in updates:
            groups.setdefault(tuple(k for k in u if k != "sample_id"), []).append(u)
        for columns, rows in groups.items():
            conn.execute(update(qa_samples).where(qa_samples.c.sample_id == bindparam("b_sample_id"))
                         .values({k: bindparam(f"b_{k}") for k in columns}),
                         [{f"b_{k}": r[k] for k in ("sample_id", *columns)} for r in rows])

    def decision_records(self, conn: Connection, after_seq: int) -> list[dict[str, Any]]:
        """Audit records that may be bot decisions (``quality.bot_decisions``), after ``after_seq``."""
        q = (select(audit).where(audit.c.seq > after_seq, audit.c.action.in_(_DECISION_ACTIONS))
             .order_by(audit.c.seq))
        return [dict(r._mapping) for r in conn.execute(q)]
