"""Where the NCCI PTP and MUE tables live: the bots' own database, on claim_edits' own MetaData.

Each import is a *version*: its rows carry the version id, and exactly one
version per kind is active. An import loads a new version beside the active
one, flips ``active`` in one short transaction, then deletes the old rows, so
a scan never sees half a table. Audit records name the version label
(file name, sha256 prefix, row count) the decision used.

The edit tables are ``WITHOUT ROWID`` on SQLite: the primary key *is* the
lookup index (version, column 1 code, ...), so a million-row import writes one
B-tree in file order instead of a table plus an index.
"""

from __future__ import annotations

import weakref

from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, String, Table, Text

from bots.core.store import Store, StoreLock

__all__ = ["PTP", "MUE", "KINDS", "edit_table_versions", "ensure_tables", "metadata", "ncci_mue", "ncci_ptp",
           "tables_lock"]

PTP = "ptp"
MUE = "mue"
KINDS = {PTP: "NCCI PTP", MUE: "MUE"}

metadata = MetaData()

edit_table_versions = Table(
    "edit_table_versions", metadata,
    Column("version_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("label", String(300), nullable=False),  # what audit records cite
    Column("files", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("active", Boolean, nullable=False, default=False),
    Column("loaded_at", String(32), nullable=False),
)

ncci_ptp = Table(
    "ncci_ptp", metadata,
    Column("version_id", Integer, primary_key=True, autoincrement=False),
    Column("column1", String(5), primary_key=True),
    Column("column2", String(5), primary_key=True),
    # CMS lists a pair again when an edit is deleted and re-added with new terms; the row's
    # position in the import (across all files of a split table) keeps both.
    Column("row_no", Integer, primary_key=True, autoincrement=False),
    Column("effective", String(10), nullable=False),  # ISO date, compared with the date of service
    Column("deletion", String(10)),  # ISO date the edit stopped applying; NULL = still active
    Column("modifier_indicator", String(1), nullable=False),
    Column("prior_1996", Boolean, nullable=False),
    Column("rationale", Text),
    sqlite_with_rowid=False,
)

ncci_mue = Table(
    "ncci_mue", metadata,
    Column("version_id", Integer, primary_key=True, autoincrement=False),
    Column("code", String(5), primary_key=True),
    Column("mue_value", Integer, nullable=False),
    Column("mai", Integer, nullable=False),  # MUE adjudication indicator 1, 2 or 3
    Column("rationale", Text),
    sqlite_with_rowid=False,
)


# Engines whose database is known to have the edit tables (one check per store, not per call).
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


def tables_lock(store: Store) -> StoreLock:
    """Held while the edit tables are created, loaded or switched: two robots' first runs on one
    database would otherwise both load the samples, and each drop the version the other loaded."""
    return StoreLock(store, "edit_tables")


def ensure_tables(store: Store) -> None:
    """Create the edit tables if this database has never seen them (idempotent; under the tables
    lock, as two robots creating them at once on PostgreSQL collide on the type catalogue)."""
    if store.engine in _ready:
        return
    with tables_lock(store):
        metadata.create_all(store.engine)
    _ready.add(store.engine)
