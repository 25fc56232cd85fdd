"""The store: claims, work items with leases, runs, exception rows and the audit chain.

Every write that belongs together (an item's outcome, its exceptions, its
audit records, the status updates it queues) commits in one transaction, so a
crash can delay an outcome but never half-record it.

One concern per module: ``base`` (engine, dialects, transactions), ``schema``
(tables, private to this package), ``queue`` (work items and leases), ``runs``,
``rows`` (exception rows), ``audit`` (the hash chain), ``claims`` (claims and service lines),
``intents`` (what an outcome asks the store to write, and handoffs between bots), ``reports``
(read-only views: work items, exception rows, audit records), ``dashboard`` (read-only
aggregates per day for the leaders' dashboard), ``mirror`` (the workbook's coder
edits and written state), ``ownership`` (the Assigned To the bots chose from the roster), ``quality`` (samples for QA
review), ``changes`` (rule, table and payer profile changes with their effect), ``appeals`` (Appeal
Preparation rows' own facts), ``archive`` (rows moved out of the live workbook), ``signins``
(refused sign-ins remembered across runs) and ``locks`` (named locks across processes and machines). ``Store`` combines them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.core.lifecycle import ItemState, RowState, RunStatus
from bots.core.store.appeals import AppealStore
from bots.core.store.archive import ArchiveStore
from bots.core.store.audit import AuditEntry, AuditStore, audit_hash
from bots.core.store.base import GENESIS, canonical_json, digest, utcnow
from bots.core.store.changes import ChangeStore
from bots.core.store.claims import ClaimStore
from bots.core.store.dashboard import DashboardStore
from bots.core.store.intents import ClaimStatusRead, Intent, IntentStore, RowSynced, StatusUpdate
from bots.core.store.locks import StoreLock
from bots.core.store.mirror import MirrorStore, exception_fingerprint
from bots.core.store.ownership import OwnershipStore
from bots.core.store.quality import QualityStore
from bots.core.store.queue import ClaimedItem, ItemStateChange, WorkItemSpec
from bots.core.store.reports import ReportStore
from bots.core.store.rows import ExceptionBatchEntry, exception_id
from bots.core.store.runs import RunStore
from bots.core.store.signins import SignInStore

if TYPE_CHECKING:
    from bots.core.settings import Settings

__all__ = [
    "GENESIS", "AuditEntry", "ClaimStatusRead", "ClaimedItem", "ExceptionBatchEntry", "Intent", "ItemState",
    "ItemStateChange", "RowState", "RowSynced", "RunStatus", "StatusUpdate", "Store", "StoreLock", "WorkItemSpec", "audit_hash",
    "canonical_json", "digest", "exception_fingerprint", "exception_id", "open_store", "utcnow",
]


class Store(IntentStore, SignInStore, RunStore, AuditStore, ClaimStore, ReportStore, DashboardStore, MirrorStore,
            OwnershipStore, QualityStore, ChangeStore, AppealStore, ArchiveStore):
    """Owns the engine; hands out transactions. Thread-safe (one connection per use)."""


def open_store(settings: Settings) -> Store:
    """The store a bots process works with: the configured database, with the audit chain's HMAC
    key and checkpoint file kept outside it (``bots.core.audit_keys``)."""
    from bots.core.audit_keys import AuditKeys

    store = Store(settings.db_url)
    store.audit_keys = AuditKeys.from_settings(settings)
    return store
