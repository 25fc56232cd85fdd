"""The store: claims, work items with leases, runs, exceptions and the audit chain.

SQLAlchemy Core, SQLite (WAL) by default, PostgreSQL through ``BOTS_DATABASE_URL``.
Every write that belongs together (an item's outcome, its exceptions, its
audit records, the status updates it queues) commits in one transaction, so a
crash can delay an outcome but never half-record it.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE``: writers
queue up front instead of failing to upgrade a read lock mid-transaction,
which also serialises appends to the audit chain. On PostgreSQL the chain head
row is locked with ``FOR UPDATE`` and work items are claimed with
``FOR UPDATE SKIP LOCKED`` so several robot machines can share one queue.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean, Column, Connection, Engine, Float, Index, Integer, MetaData, String, Table, Text,
    UniqueConstraint, bindparam, create_engine, event, func, select, update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import NullPool

from bots.core.errors import ExceptionRecord

__all__ = [
    "AuditEntry", "ClaimedItem", "ExceptionBatchEntry", "ItemState", "ItemStateChange", "RunStatus", "Store",
    "WorkItemSpec", "canonical_json", "digest", "exception_id", "metadata", "utcnow",
]

metadata = MetaData()


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)  # = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``: the input digest in audit records."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def exception_id(bot: str, rule_id: str, claim: str | None, line: int | None, detail: str) -> str:
    """Deterministic: the same finding on a rerun lands on the same workbook row."""
    key = "|".join([bot, rule_id, claim or "", "" if line is None else str(line), detail])
    return "EX-" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()


class ItemState:
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    EXCEPTION = "exception"
    FAILED = "failed"
    ABANDONED = "abandoned"
    TERMINAL = ("done", "exception", "failed")
    CLAIMABLE = ("new", "abandoned")


class RunStatus:
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"
    # Rows for scheduled runs that never started (``Store.record_run_event``): the scheduler was
    # down or busy past the misfire grace time, or the previous run was still going.
    MISSED = "missed"
    SKIPPED = "skipped"


claims = Table(
    "claims", metadata,
    Column("claim_key", String(120), primary_key=True),  # payer_id:claim_id
    Column("claim_id", String(60), nullable=False, index=True),
    Column("payer_id", String(60), nullable=False),
    Column("member_id", String(60)),
    Column("patient_name", String(200)),
    Column("patient_dob", String(10)),
    Column("date_of_service", String(10)),
    Column("provider_npi", String(10)),
    Column("diagnosis_codes", Text),
    Column("prior_auth_number", String(60)),
    Column("submitted_date", String(10)),
    Column("expected_amount", Float),
    Column("total_charge", Float),
    Column("digest", String(64), nullable=False),
    Column("source_file", Text),
    Column("source_row", Integer),
    Column("loaded_at", String(32)),
    Column("status_category", String(8)),
    Column("status_word", String(120)),
    Column("status_checked_at", String(32)),
    Column("paid_amount", Float),
    Column("final", Boolean, nullable=False, default=False),
)

service_lines = Table(
    "service_lines", metadata,
    Column("claim_key", String(120), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("date_of_service", String(10)),
    Column("procedure_code", String(10)),
    Column("modifiers", String(60)),
    Column("units", Integer),
    Column("charge", Float),
    Column("diagnosis_pointers", String(60)),
    Column("note_id", String(60)),
    Column("note_signed", String(1)),
    Column("note_date", String(10)),
    Column("time_minutes", Integer),
    Column("source_row", Integer),
)

work_items = Table(
    "work_items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bot", String(40), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("claim_key", String(120)),
    Column("payload", Text, nullable=False, default="{}"),
    Column("digest", String(64), nullable=False, default=""),
    Column("sort_key", String(60), nullable=False, default=""),
    Column("state", String(20), nullable=False, default=ItemState.NEW),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", String(32)),
    Column("lease_owner", String(80)),
    Column("lease_expires", String(32)),
    Column("last_run", String(80)),  # a run never takes the same item twice
    Column("last_error", Text),
    Column("last_error_type", String(80)),
    Column("result", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("cycles", Integer, nullable=False, default=1),
    UniqueConstraint("bot", "reference", name="uq_work_items_bot_reference"),
    Index("ix_work_items_claim", "bot", "state", "sort_key", "id"),
)

runs = Table(
    "runs", metadata,
    Column("run_id", String(80), primary_key=True),
    Column("bot", String(40), nullable=False, index=True),
    Column("trigger", String(20), nullable=False, default="manual"),
    Column("status", String(20), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32)),
    Column("host", String(120)),
    Column("pid", Integer),
    Column("items", Integer, nullable=False, default=0),
    Column("done", Integer, nullable=False, default=0),
    Column("exceptions", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("deferred", Integer, nullable=False, default=0),
    Column("retries", Integer, nullable=False, default=0),
    Column("message", Text),
    Column("workbook", Text),
)

audit = Table(
    "audit", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", String(32), nullable=False),
    Column("run_id", String(80)),
    Column("bot", String(40)),
    Column("item_ref", String(200)),
    Column("claim_id", String(60), index=True),
    Column("action", String(40), nullable=False),
    Column("rule_id", String(60)),
    Column("rule_version", String(20)),
    Column("input_digest", String(64)),
    Column("result", String(40)),
    Column("detail", Text),
    Column("evidence_path", Text),
    Column("evidence_sha256", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

exceptions = Table(
    "exceptions", metadata,
    Column("exception_id", String(20), primary_key=True),
    Column("queue", String(40), nullable=False, index=True),
    Column("bot", String(40), nullable=False),
    Column("item_ref", String(200), nullable=False),
    Column("rule_id", String(60), nullable=False),
    Column("rule_version", String(20)),
    Column("claim_id", String(60), index=True),
    Column("line_no", Integer),
    Column("payer_id", String(60)),
    Column("patient", String(200)),
    Column("dos", String(10)),
    Column("amount", Float),
    Column("reason", Text),
    Column("detail", Text),
    Column("evidence", Text),
    Column("evidence_file", Text),
    Column("review_level", String(10), nullable=False, default="Entry"),
    Column("priority", String(10), nullable=False, default="Normal"),
    Column("run_id", String(80)),
    Column("first_seen", String(32), nullable=False),
    Column("last_seen", String(32), nullable=False),
    Column("times_seen", Integer, nullable=False, default=1),
    Column("bot_status", String(10), nullable=False, default="Open"),
    Column("bot_check", Text),
    # Coder-owned: mirrored from the workbook, never set by a bot's own decision.
    Column("assigned_to", String(120)),
    Column("status", String(20)),
    Column("resolution", String(60)),
    Column("resolution_note", Text),
    Column("resolved_by", String(120)),
    Column("resolved_on", String(32)),
    Column("coder_updated_at", String(32)),
    Column("synced_at", String(32)),
    Column("written_at", String(32)),  # null: changed since the last workbook write
    Index("ix_exceptions_scope", "bot", "item_ref"),
)

meta = Table(
    "meta", metadata,
    Column("key", String(120), primary_key=True),
    Column("value", Text),
    Column("updated_at", String(32)),
)


@dataclass
class WorkItemSpec:
    reference: str
    claim_key: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    digest: str = ""
    sort_key: str = ""


@dataclass
class ClaimedItem:
    id: int
    bot: str
    reference: str
    claim_key: str | None
    payload: dict[str, Any]
    attempts: int
    run_id: str


@dataclass
class ItemStateChange:
    """One ``set_item_state`` call, for writing a whole batch with ``set_item_states``."""

    item: ClaimedItem
    state: str
    error: BaseException | None = None
    result: dict[str, Any] | None = None
    not_before: datetime | None = None
    refund_attempt: bool = False


@dataclass
class ExceptionBatchEntry:
    """One item's ``record_exceptions`` call, for writing a whole batch with ``record_exceptions_many``."""

    item_ref: str
    records: Sequence[ExceptionRecord]
    claim: dict[str, Any] | None = None


@dataclass
class AuditEntry:
    action: str
    result: str
    run_id: str | None = None
    bot: str | None = None
    item_ref: str | None = None
    claim_id: str | None = None
    rule_id: str | None = None
    rule_version: str | None = None
    input_digest: str | None = None
    detail: dict[str, Any] | None = None
    evidence_path: str | None = None
    evidence_sha256: str | None = None
    ts: str | None = None


_AUDIT_FIELDS = (
    "ts", "run_id", "bot", "item_ref", "claim_id", "action", "rule_id", "rule_version",
    "input_digest", "result", "detail", "evidence_path", "evidence_sha256",
)
GENESIS = "0" * 64
_HASHED_FIELDS = ("seq", *_AUDIT_FIELDS)
_AUDIT_COLUMNS = (*_HASHED_FIELDS, "prev_hash", "hash")
_AUDIT_INSERT = f"INSERT INTO audit ({', '.join(_AUDIT_COLUMNS)}) VALUES ({', '.join('?' * len(_AUDIT_COLUMNS))})"


def audit_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return _hash_values(prev_hash, [row.get(k) for k in _HASHED_FIELDS])


def _hash_values(prev_hash: str, values: Sequence[Any]) -> str:
    """The chain hash over (seq, *_AUDIT_FIELDS) values in that order; None hashes as ""."""
    body = "\x1f".join(["" if v is None else str(v) for v in values])
    return hashlib.sha256(f"{prev_hash}\x1e{body}".encode()).hexdigest()


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="microseconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """Owns the engine; hands out transactions. Thread-safe (one connection per use)."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_engine(
                url, connect_args={"timeout": 60, "check_same_thread": False}, poolclass=NullPool
            )
            self._read_engine = create_engine(
                url, connect_args={"timeout": 60, "check_same_thread": False}, poolclass=NullPool
            )
            _sqlite_pragmas(self.engine, immediate=True)
            _sqlite_pragmas(self._read_engine, immediate=False)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self._read_engine = self.engine
        self.host = socket.gethostname()
        metadata.create_all(self.engine)
        # The chain head row exists from the start, so every append can lock it
        # (FOR UPDATE on PostgreSQL): two first appends must not both start at seq 1.
        with self.begin() as conn:
            self.upsert(conn, audit_head, [{"id": 1, "seq": 0, "hash": GENESIS}], ["id"], update_cols=[])
        # SQLite checkpoints the whole WAL and truncates it whenever the last connection to a
        # database closes; with a connection per use that is every transaction. One idle
        # connection held for the Store's life (never in a transaction, so it blocks nothing)
        # leaves checkpoints to SQLite's automatic, incremental ones.
        database = self.engine.url.database if self.is_sqlite else None
        self._anchor: sqlite3.Connection | None = None
        if database and database != ":memory:":
            self._anchor = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            self._anchor.execute("SELECT count(*) FROM sqlite_master").fetchone()  # joins the WAL, then idles

    def close(self) -> None:
        if self._anchor is not None:
            self._anchor.close()
            self._anchor = None
        self.engine.dispose()
        if self._read_engine is not self.engine:
            self._read_engine.dispose()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (committed on success, rolled back on error)."""
        with self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self._read_engine.connect() as conn:
            yield conn

    def upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]],
               keys: Sequence[str], update_cols: Sequence[str] | None = None,
               where_changed: str | None = None) -> None:
        """INSERT … ON CONFLICT DO UPDATE, on SQLite and PostgreSQL alike."""
        if not rows:
            return
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        stmt = dialect_insert(table)
        cols = update_cols if update_cols is not None else [c for c in rows[0] if c not in keys]
        if cols:
            where = None
            if where_changed:
                where = table.c[where_changed] != stmt.excluded[where_changed]
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}, where=where
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, rows)

    # ---- meta -----------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any, conn: Connection | None = None) -> None:
        row = [{"key": key, "value": canonical_json(value), "updated_at": _iso(utcnow())}]
        if conn is not None:
            self.upsert(conn, meta, row, ["key"])
            return
        with self.begin() as c:
            self.upsert(c, meta, row, ["key"])

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.read() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return default if value is None else json.loads(value)

    # ---- work items -------------------------------------------------------------------------
    def enqueue(self, bot: str, specs: Iterable[WorkItemSpec], *, reopen_terminal: bool = True,
                conn: Connection | None = None) -> int:
        """Add work items; an existing reference with the same digest is left alone.

        A terminal item whose digest changed (the claim was corrected and reloaded)
        starts a new cycle: back to ``new`` with a fresh attempt count. Returns how
        many items were added or reopened.
        """
        now = _iso(utcnow())
        specs = list(specs)
        if not specs:
            return 0
        if conn is None:
            with self.begin() as c:
                return self.enqueue(bot, specs, reopen_terminal=reopen_terminal, conn=c)
        refs = [s.reference for s in specs]
        existing: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(refs, 500):
            for ref, state, dig in conn.execute(
                select(work_items.c.reference, work_items.c.state, work_items.c.digest).where(
                    work_items.c.bot == bot, work_items.c.reference.in_(chunk)
                )
            ):
                existing[ref] = (state, dig)
        new_rows, reopen = [], []
        for s in specs:
            row = {
                "bot": bot, "reference": s.reference, "claim_key": s.claim_key,
                "payload": canonical_json(s.payload), "digest": s.digest, "sort_key": s.sort_key,
                "state": ItemState.NEW, "attempts": 0, "created_at": now, "updated_at": now,
                "cycles": 1,
            }
            if s.reference not in existing:
                new_rows.append(row)
                existing[s.reference] = (ItemState.NEW, s.digest)
            else:
                state, dig = existing[s.reference]
                if dig != s.digest and (state in ItemState.TERMINAL and reopen_terminal or state in ItemState.CLAIMABLE):
                    reopen.append(row)
        if new_rows:
            conn.execute(work_items.insert(), new_rows)
        for row in reopen:
            conn.execute(
                update(work_items)
                .where(work_items.c.bot == bot, work_items.c.reference == row["reference"])
                .values(payload=row["payload"], digest=row["digest"], sort_key=row["sort_key"],
                        state=ItemState.NEW, attempts=0, not_before=None, lease_owner=None,
                        lease_expires=None, updated_at=now, finished_at=None,
                        cycles=work_items.c.cycles + 1)
            )
        return len(new_rows) + len(reopen)

    def reopen(self, bot: str, references: Iterable[str], conn: Connection) -> int:
        """Start a new cycle for terminal items (e.g. a claim due for another status check)."""
        refs = list(references)
        n = 0
        now = _iso(utcnow())
        for chunk in _chunks(refs, 500):
            n += conn.execute(
                update(work_items)
                .where(work_items.c.bot == bot, work_items.c.reference.in_(chunk),
                       work_items.c.state.in_(ItemState.TERMINAL))
                .values(state=ItemState.NEW, attempts=0, not_before=None, updated_at=now,
                        finished_at=None, cycles=work_items.c.cycles + 1)
            ).rowcount
        return n

    def recover_abandoned(self, bot: str) -> int:
        """Mark in-progress items of dead runs, or with expired leases, ``abandoned``.

        A run on this host whose process is gone is dead now, whatever its lease
        says: that is what lets a rerun right after a kill finish the work.
        """
        now = utcnow()
        with self.begin() as conn:
            running = conn.execute(
                select(runs.c.run_id, runs.c.host, runs.c.pid).where(
                    runs.c.bot == bot, runs.c.status == RunStatus.RUNNING
                )
            ).all()
            dead = [r.run_id for r in running if r.host == self.host and r.pid and not _pid_alive(r.pid)]
            if dead:
                conn.execute(
                    update(runs).where(runs.c.run_id.in_(dead)).values(
                        status=RunStatus.CRASHED, ended_at=_iso(now),
                        message="process ended without finishing the run (killed or crashed)",
                    )
                )
            cond = work_items.c.lease_expires < _iso(now)
            if dead:
                cond = cond | work_items.c.lease_owner.in_(dead)
            return conn.execute(
                update(work_items)
                .where(work_items.c.bot == bot, work_items.c.state == ItemState.IN_PROGRESS, cond)
                .values(state=ItemState.ABANDONED, lease_owner=None, lease_expires=None,
                        updated_at=_iso(now))
            ).rowcount

    def claim_items(self, bot: str, run_id: str, *, limit: int, lease_seconds: int,
                    only_refs: Sequence[str] | None = None) -> list[ClaimedItem]:
        now = utcnow()
        now_s = _iso(now)
        with self.begin() as conn:
            def candidates(states: Sequence[str]) -> Any:
                q = (
                    select(work_items.c.id, work_items.c.sort_key)
                    .where(
                        work_items.c.bot == bot,
                        work_items.c.state.in_(states),
                        (work_items.c.not_before.is_(None)) | (work_items.c.not_before <= now_s),
                        (work_items.c.last_run.is_(None)) | (work_items.c.last_run != run_id),
                    )
                    .order_by(work_items.c.sort_key, work_items.c.id)
                    .limit(limit)
                )
                if only_refs is not None:
                    q = q.where(work_items.c.reference.in_(list(only_refs)))
                if not self.is_sqlite:
                    q = q.with_for_update(skip_locked=True)
                return conn.execute(q).all()

            if self.is_sqlite:
                # One query per state walks ix_work_items_claim in order; with ``state IN (…)``
                # SQLite sorts every claimable item in a temp B-tree on each call instead.
                merged = sorted((r.sort_key, r.id) for st in ItemState.CLAIMABLE for r in candidates([st]))
                ids = [i for _, i in merged[:limit]]
            else:
                ids = [r.id for r in candidates(ItemState.CLAIMABLE)]
            if not ids:
                return []
            conn.execute(
                update(work_items)
                .where(work_items.c.id.in_(ids))
                .values(state=ItemState.IN_PROGRESS, lease_owner=run_id, last_run=run_id,
                        lease_expires=_iso(now + timedelta(seconds=lease_seconds)),
                        attempts=work_items.c.attempts + 1, updated_at=now_s)
            )
            rows = conn.execute(
                select(work_items.c.id, work_items.c.reference, work_items.c.claim_key,
                       work_items.c.payload, work_items.c.attempts)
                .where(work_items.c.id.in_(ids)).order_by(work_items.c.sort_key, work_items.c.id)
            ).all()
        return [ClaimedItem(r.id, bot, r.reference, r.claim_key, json.loads(r.payload), r.attempts, run_id)
                for r in rows]

    def renew_leases(self, run_id: str, lease_seconds: int) -> None:
        with self.begin() as conn:
            conn.execute(
                update(work_items)
                .where(work_items.c.lease_owner == run_id, work_items.c.state == ItemState.IN_PROGRESS)
                .values(lease_expires=_iso(utcnow() + timedelta(seconds=lease_seconds)))
            )

    def release_items(self, run_id: str, item_ids: Sequence[int]) -> None:
        """Give back claimed but unstarted items (a clean stop): no attempt spent."""
        if not item_ids:
            return
        with self.begin() as conn:
            conn.execute(
                update(work_items)
                .where(work_items.c.id.in_(list(item_ids)), work_items.c.lease_owner == run_id,
                       work_items.c.state == ItemState.IN_PROGRESS)
                .values(state=ItemState.NEW, lease_owner=None, lease_expires=None, last_run=None,
                        attempts=work_items.c.attempts - 1, updated_at=_iso(utcnow()))
            )

    def abandon_run_items(self, run_id: str, reason: str) -> int:
        """Items a broken run still holds go back to the queue at once (the attempt counts)."""
        with self.begin() as conn:
            return conn.execute(
                update(work_items)
                .where(work_items.c.lease_owner == run_id, work_items.c.state == ItemState.IN_PROGRESS)
                .values(state=ItemState.ABANDONED, lease_owner=None, lease_expires=None,
                        last_error=reason[:2000], updated_at=_iso(utcnow()))
            ).rowcount

    def set_item_state(self, conn: Connection, item: ClaimedItem, state: str, *,
                       error: BaseException | None = None, result: dict[str, Any] | None = None,
                       not_before: datetime | None = None, refund_attempt: bool = False) -> None:
        self.set_item_states(conn, [ItemStateChange(item, state, error, result, not_before, refund_attempt)])

    def set_item_states(self, conn: Connection, changes: Sequence[ItemStateChange]) -> None:
        """``set_item_state`` for many items: one executemany per shape of change, not one UPDATE each."""
        now = _iso(utcnow())
        groups: dict[tuple[tuple[str, ...], bool], list[dict[str, Any]]] = {}
        for ch in changes:
            values: dict[str, Any] = {
                "state": ch.state, "updated_at": now, "lease_owner": None, "lease_expires": None,
                "not_before": _iso(ch.not_before) if ch.not_before else None,
            }
            if ch.state in ItemState.TERMINAL:
                values["finished_at"] = now
            if ch.error is not None:
                values["last_error"] = str(ch.error)[:2000]
                values["last_error_type"] = type(ch.error).__name__
            if ch.result is not None:
                values["result"] = canonical_json(ch.result)
            params = {f"v_{k}": v for k, v in values.items()}
            params["w_id"], params["w_owner"] = ch.item.id, ch.item.run_id
            groups.setdefault((tuple(values), ch.refund_attempt), []).append(params)
        for (keys, refund), rows in groups.items():
            set_: dict[str, Any] = {k: bindparam(f"v_{k}") for k in keys}
            if refund:
                set_["attempts"] = work_items.c.attempts - 1
            conn.execute(
                update(work_items)
                .where(work_items.c.id == bindparam("w_id"), work_items.c.lease_owner == bindparam("w_owner"))
                .values(set_),
                rows,
            )

    def item_counts(self, bot: str | None = None) -> dict[str, int]:
        q = select(work_items.c.state, func.count()).group_by(work_items.c.state)
        if bot:
            q = q.where(work_items.c.bot == bot)
        with self.read() as conn:
            return {s: n for s, n in conn.execute(q)}

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
            ids: list[str] = []
            for rec in entry.records:
                claim_id = rec.claim_id or claim.get("claim_id")
                ex_id = exception_id(bot, rec.rule_id, claim_id, rec.line_no, rec.detail)
                ids.append(ex_id)
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
                    "bot_status": "Open",
                })
            per_entry.append(ids)
        if latest:
            current: dict[str, Any] = {}
            for chunk in _chunks(list(latest), 500):
                for r in conn.execute(
                    select(exceptions.c.exception_id, exceptions.c.times_seen, exceptions.c.bot_status,
                           exceptions.c.run_id).where(exceptions.c.exception_id.in_(chunk))
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
                row = {"w_id": ex_id, "v_times_seen": cur.times_seen + (0 if cur.run_id == run_id else 1),
                       "v_item_ref": item_ref, **{f"v_{k}": v for k, v in fields.items()}}
                if cur.bot_status == "Synced":
                    row["v_bot_check"] = "recurred after it was resolved and synced"
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
                still_there = (exceptions.c.bot_status == "Open") | (
                    (exceptions.c.queue == "Bot Failures") & (exceptions.c.bot_status == "Synced"))
                cond = [exceptions.c.bot == bot, exceptions.c.item_ref.in_(refs), still_there]
                if ids:
                    cond.append(exceptions.c.exception_id.not_in(ids))
                conn.execute(update(exceptions).where(*cond)
                             .values(bot_status="Cleared", last_seen=now, written_at=None))
        return per_entry

    def clear_exceptions(self, conn: Connection, *, bot: str, item_ref: str) -> None:
        self.record_exceptions(conn, bot=bot, item_ref=item_ref, run_id=None, records=[])

    # ---- runs ---------------------------------------------------------------------------------
    def start_run(self, bot: str, *, trigger: str = "manual") -> str:
        now = utcnow()
        run_id = f"{now:%Y%m%dT%H%M%S}-{bot}-{os.urandom(3).hex()}"
        with self.begin() as conn:
            conn.execute(runs.insert().values(
                run_id=run_id, bot=bot, trigger=trigger, status=RunStatus.RUNNING,
                started_at=_iso(now), host=self.host, pid=os.getpid()))
        return run_id

    def finish_run(self, run_id: str, *, status: str, counts: dict[str, int], message: str = "",
                   workbook: str | None = None) -> None:
        with self.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(
                status=status, ended_at=_iso(utcnow()), message=message, workbook=workbook,
                **{k: counts.get(k, 0) for k in ("items", "done", "exceptions", "failed", "deferred", "retries")}))

    def record_run_event(self, bot: str, status: str, message: str, *, trigger: str = "scheduler",
                         started_at: datetime | None = None) -> str:
        """Record a run that did not happen (missed, skipped) or broke before it began (failed).

        Run history is where operators and ``bots health`` look; a run the scheduler could not
        start must show up there too, not only in a log. ``started_at`` is the scheduled time.
        """
        now = utcnow()
        start = now if started_at is None else started_at
        if start.tzinfo is not None:
            start = start.astimezone(UTC).replace(tzinfo=None)
        run_id = f"{start:%Y%m%dT%H%M%S}-{bot}-{os.urandom(3).hex()}"
        with self.begin() as conn:
            conn.execute(runs.insert().values(
                run_id=run_id, bot=bot, trigger=trigger, status=status, started_at=_iso(start),
                ended_at=_iso(now), host=self.host, pid=os.getpid(), message=message))
        return run_id

    def add_retries(self, run_id: str, n: int = 1) -> None:
        with self.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(retries=runs.c.retries + n))

    def list_runs(self, bot: str | None = None, last: int = 20) -> list[dict[str, Any]]:
        q = select(runs).order_by(runs.c.started_at.desc()).limit(last)
        if bot:
            q = q.where(runs.c.bot == bot)
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # ---- audit --------------------------------------------------------------------------------
    def append_audit(self, conn: Connection, entries: Sequence[AuditEntry]) -> None:
        """Append to the hash chain inside the caller's transaction."""
        if not entries:
            return
        q = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
        if not self.is_sqlite:
            q = q.with_for_update()
        head = conn.execute(q).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        now = _iso(utcnow())
        rows = []
        for e in entries:
            seq += 1
            row = [seq, e.ts or now, e.run_id, e.bot, e.item_ref, e.claim_id, e.action, e.rule_id,
                   e.rule_version, e.input_digest, e.result,
                   canonical_json(e.detail) if e.detail is not None else None,
                   e.evidence_path, e.evidence_sha256]
            digest_ = _hash_values(prev, row)
            row += (prev, digest_)
            rows.append(tuple(row))
            prev = digest_
        if self.is_sqlite:  # plain tuples straight to the driver: a scan appends hundreds of thousands
            conn.exec_driver_sql(_AUDIT_INSERT, rows)
        else:
            conn.execute(audit.insert(), [dict(zip(_AUDIT_COLUMNS, r, strict=True)) for r in rows])
        if head is None:
            conn.execute(audit_head.insert().values(id=1, seq=seq, hash=prev))
        else:
            conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        with self.begin() as conn:
            self.append_audit(conn, entries)

    def verify_audit(self) -> list[str]:
        """Recompute the chain; return one problem per broken record (empty = intact)."""
        problems: list[str] = []
        prev, expected_seq = GENESIS, 1
        with self.read() as conn:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
            result = conn.execution_options(yield_per=5000).execute(select(audit).order_by(audit.c.seq))
            for r in result:
                row = dict(r._mapping)
                if row["seq"] != expected_seq:
                    problems.append(f"record {expected_seq}" + (
                        f" to {row['seq'] - 1}" if row["seq"] - 1 > expected_seq else "") + " deleted")
                if row["prev_hash"] != prev:
                    problems.append(f"record {row['seq']}: previous-hash link broken (a record before it was edited or deleted)")
                if audit_hash(row["prev_hash"], row) != row["hash"]:
                    problems.append(f"record {row['seq']} ({row['action']} {row['item_ref'] or ''} {row['rule_id'] or ''}): contents edited after it was written")
                prev, expected_seq = row["hash"], row["seq"] + 1
        last = expected_seq - 1
        if head is not None and (head.seq != last or head.hash != prev):
            problems.append(f"record {last + 1} to {head.seq} deleted from the end of the chain" if head.seq > last
                            else f"chain head does not match record {last}")
        if head is None and last:
            problems.append("chain head missing")
        return problems

    def audit_trail(self, claim_id: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(audit).where(audit.c.claim_id == claim_id).order_by(audit.c.seq))]


def _chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _sqlite_pragmas(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        if immediate:
            # Checkpoint the WAL every ~40 MB instead of every 4 MB: a scan commits several MB a
            # batch, and each checkpoint costs two fsyncs. Commits and durability are unchanged.
            cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
