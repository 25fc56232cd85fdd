"""Intents: what a bot's outcome asks the store to write, as data, applied in the item's transaction.

A bot decides; it does not write. Besides its exception rows, an outcome may carry:

- ``ClaimStatusRead``: what a payer portal showed for a claim (the claim's status columns);
- ``RowSynced``: a coder's resolution was applied in billing, so the row turns Synced;
- ``StatusUpdate``: a *handoff*, a status the billing work queue should show. It is queued
  as a work item for whichever installed bot accepts ``registry.STATUS_UPDATE``, so the
  producing bot never names the consumer and core names neither.

Intents are frozen dataclasses, so a test can compare them and a bot cannot smuggle SQL
into the runner's transaction. The same module holds the other move that spans a work
item and a row: a Bot Failures row resolved "Retry by bot" (:meth:`IntentStore.retry_by_bot`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, update

from bots.core import registry
from bots.core.logging import get_logger
from bots.core.store.audit import AuditEntry
from bots.core.store.base import digest
from bots.core.store.queue import QueueStore, WorkItemSpec
from bots.core.store.rows import RowStore
from bots.core.store.schema import claims

__all__ = ["ClaimStatusRead", "Intent", "IntentStore", "RowSynced", "StatusUpdate"]

log = get_logger("bots.store")


def _claim_key(payer_id: str, claim_id: str) -> str:
    # ``bots.core.claims`` imports the store, so it is imported when first needed.
    from bots.core.claims import claim_key

    return claim_key(payer_id, claim_id)


@dataclass(frozen=True)
class StatusUpdate:
    """A status the billing work queue should show: handed to the bot that accepts status updates."""

    kind: ClassVar[str] = registry.STATUS_UPDATE

    claim_id: str
    payer_id: str
    status: str
    note: str
    source_bot: str
    run_id: str
    exception_id: str | None = None
    resolution: str | None = None

    @property
    def reference(self) -> str:
        return f"{_claim_key(self.payer_id, self.claim_id)}|{self.status}|{self.exception_id or ''}"


@dataclass(frozen=True)
class ClaimStatusRead:
    """What a payer portal showed for a claim, recorded on the claim."""

    claim_key: str
    category: str | None
    word: str | None
    checked_at: str  # ISO, UTC, seconds
    final: bool
    paid_amount: float | None = None  # None: the portal showed no payment; the stored amount stays


@dataclass(frozen=True)
class RowSynced:
    """A coder's resolution is applied (in billing, or needed nothing there): the row turns Synced,
    and its Run ID becomes the run whose audit records hold the billing update."""

    exception_id: str
    run_id: str
    billing_status: str


Intent = StatusUpdate | ClaimStatusRead | RowSynced


class IntentStore(QueueStore, RowStore):
    def apply_intents(self, conn: Connection, intents: Iterable[Intent]) -> None:
        """Write a batch's intents in order; handoffs are queued together at the end."""
        handoffs: list[StatusUpdate] = []
        for intent in intents:
            if isinstance(intent, StatusUpdate):
                handoffs.append(intent)
            elif isinstance(intent, ClaimStatusRead):
                self._record_claim_status(conn, intent)
            elif isinstance(intent, RowSynced):
                self.mark_synced(conn, intent.exception_id, run_id=intent.run_id)
                log.info("exception_synced", exception_id=intent.exception_id, run_id=intent.run_id,
                         billing_status=intent.billing_status)
            else:
                raise TypeError(f"not an intent the store knows: {intent!r}")
        if handoffs:
            self.queue_status_updates(conn, handoffs)

    def queue_status_updates(self, conn: Connection, updates: Sequence[StatusUpdate]) -> None:
        """Queue status updates as work items of the bot that accepts them."""
        # One timestamp for the call: the consumer takes items by (sort_key, id), and ids follow this order.
        sort_key = datetime.now().strftime("%Y%m%d%H%M%S%f")
        digests: dict[tuple[str, str | None, str | None, str], str] = {}
        specs = []
        for u in updates:
            # The source run is part of the digest: a status read again on a later run (Pending,
            # then Paid, then Pending once more) reopens its item, so billing is checked again.
            key = (u.status, u.exception_id, u.resolution, u.run_id)
            if key not in digests:
                digests[key] = digest(list(key))
            specs.append(WorkItemSpec(
                reference=u.reference, claim_key=_claim_key(u.payer_id, u.claim_id),
                payload={"claim_id": u.claim_id, "payer_id": u.payer_id, "status": u.status, "note": u.note,
                         "source_bot": u.source_bot, "source_run": u.run_id, "exception_id": u.exception_id,
                         "resolution": u.resolution},
                digest=digests[key], sort_key=sort_key))
        self.enqueue(registry.handoff_target(StatusUpdate.kind), specs, conn=conn)

    def retry_by_bot(self, conn: Connection, row: Mapping[str, Any], at: str) -> AuditEntry:
        """A coder resolved a Bot Failures row "Retry by bot": the failed item starts a new cycle
        in its bot's queue and the row turns Synced (the bots act on it). If the retry gets
        through, the next run Clears the row; if it fails again, the row reopens with a Bot
        Check saying it recurred. Returns the audit record of the request."""
        reopened = self.reopen(row["bot"], [row["item_ref"]], conn)
        self.mark_synced(conn, row["exception_id"], at=at)
        return AuditEntry(action="retry_requested", bot=row["bot"], claim_id=row["claim_id"],
                          item_ref=row["item_ref"], result="reopened" if reopened else "not_failed",
                          detail={"exception_id": row["exception_id"], "resolved_by": row["resolved_by"]}, ts=at)

    def _record_claim_status(self, conn: Connection, read: ClaimStatusRead) -> None:
        values: dict[str, Any] = {"status_category": read.category, "status_word": read.word,
                                  "status_checked_at": read.checked_at, "final": read.final}
        if read.paid_amount is not None:
            values["paid_amount"] = read.paid_amount
        conn.execute(update(claims).where(claims.c.claim_key == read.claim_key).values(**values))
