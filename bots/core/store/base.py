"""The store's engine: connections, transactions and dialect differences (SQLite, PostgreSQL).

SQLAlchemy Core, SQLite (WAL) by default, PostgreSQL through ``BOTS_DATABASE_URL``.
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
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Index, Table, create_engine, event, inspect, make_url, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import QueuePool

from bots.core.store.schema import audit_head, meta, metadata

__all__ = ["GENESIS", "StoreBase", "canonical_json", "chunks", "digest", "iso", "utcnow"]

GENESIS = "0" * 64


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)  # = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``: the input digest in audit records."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="microseconds")


def chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]



class StoreBase:
    """Owns the engine; hands out transactions. Thread-safe (one connection per use)."""

    def __init__(self, url: str, *, create: bool = True):
        """``create=False`` opens an existing database only, to read: no file, table or column is made
        (``bots health``); a missing SQLite file is a ``FileNotFoundError``, an unreachable server fails
        on the first query."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if not create and self.is_sqlite:
            path = make_url(url).database
            if not path or path == ":memory:" or not Path(path).is_file():
                raise FileNotFoundError(f"no database at {path}: nothing has run with this home yet")
        if self.is_sqlite:
            # A few connections kept open per engine: opening one (file, pragmas, schema parse) cost
            # a scan ~5 ms a transaction. Threads beyond the pool (payer_portal's workers) get one
            # of their own for the transaction, closed after it, as every connection used to be.
            pooled = {"connect_args": {"timeout": 60, "check_same_thread": False}, "poolclass": QueuePool,
                      "pool_size": 4, "max_overflow": 64, "pool_timeout": 60}
            self.engine = create_engine(url, **pooled)
            self._read_engine = create_engine(url, **pooled)
            _sqlite_pragmas(self.engine, immediate=True)
            _sqlite_pragmas(self._read_engine, immediate=False)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self._read_engine = self.engine
        self.host = socket.gethostname()
        self._anchor: sqlite3.Connection | None = None
        if not create:
            return
        # Robots starting together on a new shared database would each create the tables (a
        # duplicate-type error on PostgreSQL): one creates, the others wait and find them.
        from bots.core.store.locks import StoreLock

        with StoreLock(self, "schema"):
            metadata.create_all(self.engine)
            _upgrade_tables(self.engine)
        # The chain head row exists from the start, so every append can lock it
        # (FOR UPDATE on PostgreSQL): two first appends must not both start at seq 1.
        with self.begin() as conn:
            self.upsert(conn, audit_head, [{"id": 1, "seq": 0, "hash": GENESIS}], ["id"], update_cols=[])
        # SQLite checkpoints the whole WAL and truncates it whenever the last connection to a
        # database closes; with a connection per use that is every transaction. One idle
        # connection held for the Store's life (never in a transaction, so it blocks nothing)
        # leaves checkpoints to SQLite's automatic, incremental ones.
        database = self.engine.url.database if self.is_sqlite else None
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

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT (``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    def upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]],
               keys: Sequence[str], update_cols: Sequence[str] | None = None,
               where_changed: str | None = None) -> None:
        """INSERT … ON CONFLICT DO UPDATE, on SQLite and PostgreSQL alike."""
        if not rows:
            return
        stmt = self._insert(table)
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
        row = [{"key": key, "value": canonical_json(value), "updated_at": iso(utcnow())}]
        if conn is not None:
            self.upsert(conn, meta, row, ["key"])
            return
        with self.begin() as c:
            self.upsert(c, meta, row, ["key"])

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.read() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return default if value is None else json.loads(value)

    def claim_meta(self, key: str, value: Any = True) -> bool:
        """Set ``key`` only if it is not set yet; True when this call set it.

        Atomic across processes (one INSERT … ON CONFLICT DO NOTHING): of several callers
        racing for the same key exactly one gets True. Alerts use it as "sent once" marks.
        """
        stmt = self._insert(meta).values(key=key, value=canonical_json(value), updated_at=iso(utcnow()))
        with self.begin() as conn:
            return conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"])).rowcount == 1

    def swap_meta(self, key: str, value: Any) -> Any:
        """Set ``key`` to ``value`` and return what it held before (None: unset), in one write transaction,
        so two processes comparing against the old value never both see the same one."""
        with self.begin() as conn:
            q = select(meta.c.value).where(meta.c.key == key)
            old = conn.execute(q if self.is_sqlite else q.with_for_update()).scalar()
            self.upsert(conn, meta, [{"key": key, "value": canonical_json(value), "updated_at": iso(utcnow())}],
                        ["key"])
        return None if old is None else json.loads(old)


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


def _upgrade_tables(engine: Engine) -> None:
    """Columns and indexes added to a table after a database was created.

    ``create_all`` makes missing tables (with their indexes), never a missing column or index of an
    existing one, so a database from an earlier release would otherwise fail on the first query
    naming a new column, or scan where a new index was meant. A new column must be nullable or carry
    a ``server_default``; it is added with ``ALTER TABLE … ADD COLUMN``, a new index built once, on
    the first start after the upgrade. Nothing else about an existing table is changed.
    """
    inspector = inspect(engine)
    existing_tables = set(inspector.get_table_names())
    statements: list[str] = []
    indexes: list[Index] = []
    for table in metadata.sorted_tables:
        if table.name not in existing_tables:
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            ddl = f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(engine.dialect)}"
            if column.server_default is not None:
                ddl += f" DEFAULT {column.server_default.arg}"
                if not column.nullable:
                    ddl += " NOT NULL"
            statements.append(ddl)
        have_indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        indexes += [index for index in table.indexes if index.name not in have_indexes]
    if statements:
        with engine.begin() as conn:
            for ddl in statements:
                conn.exec_driver_sql(ddl)
    for index in indexes:  # after the columns: a new index may be on a new column
        index.create(engine)

