"""Read-only views of the store as a user sees it: work items, exception rows and audit records.

Each method returns plain dicts (column name → value), so callers never touch a table. Filters
that take many values (references, claim ids) are read in bulk, 500 values per query.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, ColumnElement, Select, Table, func, select

from bots.core.lifecycle import RowState
from bots.core.store import queue
from bots.core.store.base import StoreBase, chunks as _chunks, iso
from bots.core.store.schema import audit, exceptions, runs, work_items

__all__ = ["ReportStore"]


def _eq(table: Table, **values: Any) -> list[ColumnElement[bool]]:
    """``column == value`` for each value given (None means "any")."""
    return [table.c[name] == v for name, v in values.items() if v is not None]


def _rows(conn: Connection, q: Select[Any], *, column: str | None = None,
          values: Collection[str] | None = None) -> list[dict[str, Any]]:
    """``q``'s rows as dicts; with ``values``, once per 500 of them as ``column IN (…)``."""
    if values is None:
        result = conn.execute(q)
        keys = list(result.keys())
        return [dict(zip(keys, r, strict=True)) for r in result.all()]
    out: list[dict[str, Any]] = []
    table_column = q.selected_columns[column]
    for chunk in _chunks(sorted(set(values)), 500):
        out.extend(_rows(conn, q.where(table_column.in_(chunk))))
    return out


class ReportStore(StoreBase):
    # ---- what users and tests look at --------------------------------------------------------
    def _query(self, conn: Connection | None, q: Select[Any], column: str | None = None,
               values: Collection[str] | None = None) -> list[dict[str, Any]]:
        if conn is not None:
            return _rows(conn, q, column=column, values=values)
        with self.read() as c:
            return _rows(c, q, column=column, values=values)

    def work_items(self, bot: str | None = None, *, claim_key: str | None = None,
                   references: Collection[str] | None = None, states: Sequence[str] | None = None,
                   due_by: datetime | None = None, conn: Connection | None = None) -> list[dict[str, Any]]:
        """Work items (every column; ``payload`` and ``result`` decoded), oldest first.

        Filters: the bot, one claim's items, these references, these states (``ItemState``), and
        ``due_by``: only items not deferred past that moment (as ``claim_items`` takes them).
        """
        q = select(work_items).where(*_eq(work_items, bot=bot, claim_key=claim_key))
        if states is not None:
            q = q.where(work_items.c.state.in_(list(states)))
        if due_by is not None:
            q = q.where(queue.due_by(iso(due_by)))
        rows = self._query(conn, q, "reference", references)
        for row in rows:
            row["payload"] = json.loads(row["payload"]) if row["payload"] else {}
            row["result"] = json.loads(row["result"]) if row["result"] else None
        rows.sort(key=lambda r: r["id"])
        return rows

    def exception_rows(self, bot: str | None = None, *, queue: str | None = None,
                       bot_status: str | None = None, rule_id: str | None = None,
                       claim_ids: Collection[str] | None = None, seen_since: str | None = None,
                       conn: Connection | None = None) -> list[dict[str, Any]]:
        """Exception rows (every column), as the workbook shows them.

        Filters: the bot that found them, the queue (sheet), Bot Status (Open, Cleared, Synced),
        the rule, these claim ids, last seen at or after ``seen_since`` (ISO timestamp).
        """
        q = select(exceptions).where(*_eq(exceptions, bot=bot, queue=queue, bot_status=bot_status,
                                          rule_id=rule_id))
        if seen_since is not None:
            q = q.where(exceptions.c.last_seen >= seen_since)
        return self._query(conn, q, "claim_id", claim_ids)

    def exception_counts(self, by: str, *, bot_status: str | None = None) -> dict[str, int]:
        """How many exception rows per value of column ``by`` (e.g. ``queue``, ``bot_status``),
        optionally only rows with this Bot Status."""
        column = exceptions.c[by]
        q = select(column, func.count()).where(*_eq(exceptions, bot_status=bot_status)).group_by(column)
        with self.read() as conn:
            return dict(conn.execute(q).all())

    def audit_records(self, *, bot: str | None = None, action: str | None = None,
                      claim_id: str | None = None, item_ref: str | None = None) -> list[dict[str, Any]]:
        """Audit records in chain order (every column; ``detail`` as the stored JSON text)."""
        q = select(audit).where(*_eq(audit, bot=bot, action=action, claim_id=claim_id, item_ref=item_ref))
        return self._query(None, q.order_by(audit.c.seq))

    # ---- metrics and alerts (bots.core.metrics, bots.core.alerts) -----------------------------
    _RUN_SUMS = ("items", "done", "exceptions", "failed", "deferred", "carried_over", "retries")

    def run_totals(self) -> list[dict[str, Any]]:
        """Per bot and run status: ``runs`` (how many), the sums of the item counts and retries
        (``items`` … ``retries``) and ``last_ended`` (the latest ``ended_at``, ISO, naive UTC)."""
        q = (select(runs.c.bot, runs.c.status, func.count().label("runs"),
                    *(func.coalesce(func.sum(runs.c[c]), 0).label(c) for c in self._RUN_SUMS),
                    func.max(runs.c.ended_at).label("last_ended"))
             .group_by(runs.c.bot, runs.c.status))
        return self._query(None, q)

    def run_spans(self, *, exclude_statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
        """``bot``, ``started_at``, ``ended_at`` of every finished run (ISO, naive UTC), without
        rows of ``exclude_statuses`` (e.g. missed and skipped runs, which never ran)."""
        q = select(runs.c.bot, runs.c.started_at, runs.c.ended_at).where(runs.c.ended_at.is_not(None))
        if exclude_statuses:
            q = q.where(runs.c.status.not_in(list(exclude_statuses)))
        return self._query(None, q)

    def runs_ended_since(self, since: str, statuses: Sequence[str]) -> list[dict[str, Any]]:
        """Runs (every column) in one of ``statuses`` that ended at or after ``since`` (ISO), oldest first."""
        q = (select(runs).where(runs.c.status.in_(list(statuses)), runs.c.ended_at >= since)
             .order_by(runs.c.ended_at, runs.c.run_id))
        return self._query(None, q)

    def open_row_stats(self) -> dict[str, dict[str, Any]]:
        """Per queue (workbook sheet) with Open rows: ``open`` (how many) and ``oldest_seen`` (the
        earliest ``first_seen`` of them, ISO, naive UTC)."""
        q = (select(exceptions.c.queue, func.count().label("open"),
                    func.min(exceptions.c.first_seen).label("oldest_seen"))
             .where(exceptions.c.bot_status == RowState.OPEN).group_by(exceptions.c.queue))
        return {r.pop("queue"): r for r in self._query(None, q)}
