"""The store: claims, work items with leases, runs, exception rows and the audit chain.

Every write that belongs together (an item's outcome, its exceptions, its
audit records, the status updates it queues) commits in one transaction, so a
crash can delay an outcome but never half-record it.

One concern per module: ``base`` (engine, dialects, transactions), ``schema``
(tables, private to this package), ``queue`` (work items and leases), ``runs``,
``rows`` (exception rows), ``audit`` (the hash chain), ``claims`` (claims and service lines),
``reports`` (read-only views: work items, exception rows, audit records) and ``mirror`` (the
workbook's coder edits and written state). ``Store`` combines them.
"""

from __future__ import annotations

from bots.core.lifecycle import ItemState, RunStatus
from bots.core.store.audit import AuditEntry, AuditStore, audit_hash
from bots.core.store.base import GENESIS, canonical_json, digest, utcnow
from bots.core.store.claims import ClaimStore
from bots.core.store.mirror import MirrorStore, exception_fingerprint
from bots.core.store.queue import ClaimedItem, ItemStateChange, QueueStore, WorkItemSpec
from bots.core.store.reports import ReportStore
from bots.core.store.rows import ExceptionBatchEntry, RowStore, exception_id
from bots.core.store.runs import RunStore
# Transitional, for two callers only: payer_portal's _record_status (claims) and the workbook's
# _retry_requested/ready_resolutions/mark_synced (exceptions). Delete once the runner-intents work
# moves those writes into store methods; no other module outside the store imports a table.
from bots.core.store.schema import claims, exceptions  # noqa: F401

__all__ = [
    "GENESIS", "AuditEntry", "ClaimedItem", "ExceptionBatchEntry", "ItemState", "ItemStateChange", "RunStatus",
    "Store", "WorkItemSpec", "audit_hash", "canonical_json", "digest", "exception_fingerprint", "exception_id",
    "utcnow",
]


class Store(QueueStore, RowStore, RunStore, AuditStore, ClaimStore, ReportStore, MirrorStore):
    """Owns the engine; hands out transactions. Thread-safe (one connection per use)."""
