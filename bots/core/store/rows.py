"""Exception rows: what the bots found, upserted by deterministic Exception ID, and cleared
when it no longer occurs; resolutions ready to apply, and marking a row Synced once applied.
Coder-owned columns are mirrored from the workbook elsewhere and never set by a bot's decision.

Bot Status moves (found, recur, clear, sync, retry cleared) are the row lifecycle's table
in ``bots.core.lifecycle``; the statements here take their states from it. A row that recurs
after it was archived (``store.archive``) is live again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from bots.core.errors import ExceptionRecord
from bots.core.lifecycle import (
    APPEAL_PREPARATION, BOT_FAILURES, CoderStatus, RowEvent, RowState, check_row_move, ready_to_sync, row_sources,
)
from bots.core.store.base import StoreBase, chunks as _chunks, iso as _iso, utcnow
from bots.core.store.schema import appeals, exceptions

__all__ = ["RECURRED_CHECK", "ExceptionBatchEntry", "RowStore", "exception_id"]

# The Bot Check a row gets when the bots find it again after its resolution was synced.
RECURRED_CHECK = "recurred after it was resolved and synced"


def exception_id(bot: str, rule_id: str, claim: str | None, line: int | None, detail: str) -> str:
    """Deterministic: the same finding on a rerun lands on the same workbook row."""
    key = "|".join([bot, rule_id, claim or "", "" if line is None else str(line), detail])
    return "EX-" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()


@dataclass
class ExceptionBatchEntry:
    """One item's ``record_exceptions`` call, for writing a whole batch with ``record_exceptions_many``."""

    item_ref: str
    records: Sequence[ExceptionRecord]
    claim: dict[str, Any] | None = None

    def ids(self, bot: str) -> list[str]:
        """The Exception IDs its records get (known before anything is written)."""
        claim_id = (self.claim or {}).get("claim_id")
        return [exception_id(bot, r.rule_id, r.claim_id or claim_id, r.line_no, r.detail) for r in self.records]


class RowStore(StoreBase):
    # ---- exceptions ----------------------------------------------------------------------------
    def record_exceptions(self, conn: Connection, *, bot: str, item_ref: str, run_id: str | None,
                          records: Sequence[ExceptionRecord], claim: dict[str, Any] | None = None,
                          clear_others: bool = True) -> list[str]:
        """Upsert the exceptions a bot found for one item; Clear what no longer occurs.

        ``claim`` supplies Payer, Patient, DOS and Amount when a record leaves them out.
        Coder-owned columns are never touched here.
        """
        return self.record_exceptions_many(conn, bot=bot, run_id=run_id,
                                           entries=[ExceptionBatchEntry(item_ref, records, claim)],
                                           clear_others=clear_others)[0]

    def record_exceptions_many(self, conn: Connection, *, bot: str, run_id: str | None,
                               entries: Sequence[ExceptionBatchEntry], clear_others: bool = True) -> list[list[str]]:
        """``record_exceptions`` for a batch of items, with a handful of statements instead of
        several per record. Returns each entry's exception ids, in order."""
        now = _iso(utcnow())
        per_entry: list[list[str]] = []
        latest: dict[str, tuple[str, dict[str, Any]]] = {}  # exception id -> (item_ref, bot fields); last wins
        for entry in entries:
            claim = entry.claim or {}
            ids = entry.ids(bot)
            for rec, ex_id in zip(entry.records, ids, strict=True):
                claim_id = rec.claim_id or claim.get("claim_id")
                latest[ex_id] = (entry.item_ref, {
                    "queue": rec.queue, "rule_id": rec.rule_id, "rule_version": rec.rule_version,
                    "claim_id": claim_id, "line_no": rec.line_no,
                    "payer_id": rec.extra.get("payer_id", claim.get("payer_id")),
                    "patient": rec.extra.get("patient", claim.get("patient_name")),
                    "dos": rec.extra.get("dos", claim.get("date_of_service")),
                    "amount": rec.amount if rec.amount is not None else claim.get("total_charge"),
                    "reason": rec.reason, "detail": rec.detail, "evidence": rec.evidence,
                    "evidence_file": rec.evidence_file, "review_level": rec.review_level,
                    "priority": rec.priority, "run_id": run_id, "last_seen": now, "written_at": None,
                    "bot_status": RowState.OPEN,  # found, or recurring
                })
            per_entry.append(ids)
        if latest:
            current: dict[str, Any] = {}
            for chunk in _chunks(list(latest), 500):
                for r in conn.execute(
                    select(exceptions.c.exception_id, exceptions.c.times_seen, exceptions.c.bot_status,
                           exceptions.c.run_id, exceptions.c.escalated_at).where(exceptions.c.exception_id.in_(chunk))
                ):
                    current[r.exception_id] = r
            inserts: list[dict[str, Any]] = []
            updates: dict[bool, list[dict[str, Any]]] = {}
            for ex_id, (item_ref, fields) in latest.items():
                cur = current.get(ex_id)
                if cur is None:
                    inserts.append({"exception_id": ex_id, "bot": bot, "item_ref": item_ref, "first_seen": now,
                                    "times_seen": 1, **fields})
                    continue
                # An archived row found again is live again, with its history; ``archive_file`` still
                # says where its earlier copy is (``store.archive``).
                row = {"w_id": ex_id, "v_times_seen": cur.times_seen + (0 if cur.run_id == run_id else 1),
                       "v_item_ref": item_ref, "v_archived_at": None, **{f"v_{k}": v for k, v in fields.items()}}
                if cur.escalated_at:  # escalated to a senior: the row stays Senior whatever the bot says
                    row["v_review_level"] = "Senior"
                check_row_move(cur.bot_status, RowState.OPEN, RowEvent.RECUR)
                if cur.bot_status == RowState.SYNCED:  # the coder's resolution did not hold: say so
                    row["v_bot_check"] = RECURRED_CHECK
                updates.setdefault("v_bot_check" in row, []).append(row)
            if inserts:
                conn.execute(exceptions.insert(), inserts)
            for rows in updates.values():
                conn.execute(
                    update(exceptions).where(exceptions.c.exception_id == bindparam("w_id"))
                    .values({k[2:]: bindparam(k) for k in rows[0] if k != "w_id"}),
                    rows,
                )
        if clear_others:
            # Items whose rows were all just upserted above: no row of theirs carries another item's
            # id, so one NOT IN over the chunk's ids clears exactly what per-item statements would.
            pairs = list(zip([e.item_ref for e in entries], per_entry, strict=True))
            for chunk in _chunks(pairs, 200):
                refs = [ref for ref, _ in chunk]
                ids = [i for _, item_ids in chunk for i in item_ids]
                # Open rows that no longer occur are Cleared; so is a Bot Failures row a coder sent
                # back with "Retry by bot" (Synced) once the retried item gets through.
                still_there = exceptions.c.bot_status.in_(row_sources(RowEvent.CLEAR)) | (
                    (exceptions.c.queue == BOT_FAILURES)
                    & exceptions.c.bot_status.in_(row_sources(RowEvent.RETRY_CLEARED)))
                # An archived row is closed history: a clear leaves it as archived.
                cond = [exceptions.c.bot == bot, exceptions.c.item_ref.in_(refs), still_there,
                        exceptions.c.archived_at.is_(None)]
                if ids:
                    cond.append(exceptions.c.exception_id.not_in(ids))
                conn.execute(update(exceptions).where(*cond)
                             .values(bot_status=RowState.CLEARED, last_seen=now, written_at=None))
        return per_entry

    def clear_exceptions(self, conn: Connection, *, bot: str, item_ref: str) -> None:
        self.record_exceptions(conn, bot=bot, item_ref=item_ref, run_id=None, records=[])

    # ---- resolutions -----------------------------------------------------------------------------
    def ready_resolutions(self) -> list[dict[str, Any]]:
        """Rows a coder marked Resolved with complete evidence and no Bot Check, not yet synced
        (``lifecycle.ready_to_sync``), oldest edit first.

        The bot that accepts resolution handoffs applies these, then settles each with a
        ``RowSynced`` intent (:meth:`mark_synced`). A row the bots have Cleared is still
        returned: the coder's resolution stands.
        """
        ex = exceptions.c
        q = (select(exceptions)
             .where(ex.status == CoderStatus.RESOLVED, ex.bot_status.in_(row_sources(RowEvent.SYNC)),
                    or_(ex.bot_check.is_(None), ex.bot_check == ""))
             .order_by(ex.coder_updated_at, ex.exception_id))
        with self.read() as conn:
            rows = [row for row in (dict(r._mapping) for r in conn.execute(q)) if ready_to_sync(row)]
            # An appeal's billing note cites its submission reference (portal confirmation, tracking number).
            ids = [r["exception_id"] for r in rows if r["queue"] == APPEAL_PREPARATION]
            refs = dict(conn.execute(select(appeals.c.appeal_id, appeals.c.submission_ref)
                                     .where(appeals.c.appeal_id.in_(ids))).all()) if ids else {}
        for row in rows:
            if row["exception_id"] in refs:
                row["submission_ref"] = refs[row["exception_id"]]
        return rows

    def mark_synced(self, conn: Connection, exception_id: str, *, run_id: str | None = None,
                    at: str | None = None) -> int:
        """Bot Status Synced: the row's resolution was applied (``run_id``: the run whose audit
        records hold that), or handed back to the bots (Retry by bot, ``run_id`` None: the row
        keeps the run that failed). The row is pending again, so the next write shows it.
        Returns 1 if the row moved, 0 if it was already Synced or is gone."""
        values: dict[str, Any] = {"bot_status": RowState.SYNCED, "written_at": None,
                                  "synced_at": at or _iso(utcnow())}
        if run_id is not None:
            values["run_id"] = run_id
        return conn.execute(update(exceptions).where(
            exceptions.c.exception_id == exception_id,
            exceptions.c.bot_status.in_(row_sources(RowEvent.SYNC))).values(values)).rowcount

    def clearable_refs(self, bot: str) -> set[str]:
        """Item refs of ``bot`` with rows that clearing the item would move (those ``record_exceptions_many``
        clears): a caller settling hundreds of thousands of items at once (the worklist loader) clears
        only these instead of issuing a statement per few hundred items that all match nothing."""
        ex = exceptions.c
        still_there = ex.bot_status.in_(row_sources(RowEvent.CLEAR)) | (
            (ex.queue == BOT_FAILURES) & ex.bot_status.in_(row_sources(RowEvent.RETRY_CLEARED)))
        with self.read() as conn:
            return set(conn.execute(select(ex.item_ref).where(ex.bot == bot, still_there).distinct()).scalars())
