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
from bots.core.store.schema import (  # noqa: F401 - transitional: callers move to named methods
    audit, audit_head, claims, exceptions, meta, metadata, runs, service_lines, work_items,
)
from bots.core.store.base import chunks as _chunks  # noqa: F401 - transitional

__all__ = [
    "GENESIS", "AuditEntry", "ClaimedItem", "ExceptionBatchEntry", "ItemState", "ItemStateChange", "RunStatus",
    "Store", "WorkItemSpec", "audit_hash", "canonical_json", "digest", "exception_fingerprint", "exception_id",
    "utcnow",
]


class Store(QueueStore, RowStore, RunStore, AuditStore, ClaimStore, ReportStore, MirrorStore):
    """Owns the engine; hands out transactions. Thread-safe (one connection per use)."""
