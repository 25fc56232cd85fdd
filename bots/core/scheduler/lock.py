"""The one-scheduler lock: exactly one scheduler may use a database.

Two APScheduler 3 schedulers sharing a job store would both run every job, so
``build_scheduler`` takes this lock first (a ``flock``-ed file beside a SQLite database,
released by the OS if the process dies; a session-level advisory lock on PostgreSQL) and
refuses with the holder's host and pid. ``bots scheduler jobs`` probes it to say whether a
scheduler is running.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, make_url, text

from bots.core.errors import BotError
from bots.core.store import Store, utcnow

__all__ = ["HOLDER_META_KEY", "SchedulerLock", "SchedulerLocked", "scheduler_holder"]

HOLDER_META_KEY = "scheduler"
# pg advisory locks are keyed by a bigint and scoped to one database; derive a stable one.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"rcm-bots:scheduler").digest()[:8], "big", signed=True)


class SchedulerLocked(BotError):
    """Another scheduler already runs against this database."""


def _sqlite_lock_path(url: str) -> Path | None:
    db = make_url(url).database
    if not db or db == ":memory:":
        return None  # a private in-memory database cannot be shared anyway
    path = Path(db)
    return path.with_name(path.name + ".scheduler.lock")


class SchedulerLock:
    """Held for the scheduler's whole life; ``acquire`` raises ``SchedulerLocked`` if taken.

    The lock itself lives outside the tables (a file lock, an advisory lock) so a killed
    scheduler never leaves it behind; the ``meta`` row only names the holder for the message.
    """

    def __init__(self, store: Store):
        self.store = store
        self._file: IO[str] | None = None
        self._conn: Connection | None = None

    def acquire(self) -> None:
        if self.store.is_sqlite:
            path = _sqlite_lock_path(self.store.url)
            if path is not None:
                fh = path.open("a+")
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    fh.close()
                    raise SchedulerLocked(_locked_message(self.store)) from None
                self._file = fh
        else:
            conn = self.store.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_LOCK_KEY}).scalar()
            conn.commit()  # the lock is session-level: it outlives the transaction, not the connection
            if not got:
                conn.close()
                raise SchedulerLocked(_locked_message(self.store))
            self._conn = conn
        self.store.set_meta(HOLDER_META_KEY, {"host": socket.gethostname(), "pid": os.getpid(),
                                              "started": utcnow().isoformat(timespec="seconds")})

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None


def _holder_text(store: Store) -> str:
    h = store.get_meta(HOLDER_META_KEY) or {}
    if not h:
        return "holder not recorded yet"
    return f"host {h.get('host')}, pid {h.get('pid')}, since {h.get('started')} UTC"


def _locked_message(store: Store) -> str:
    return (f"another scheduler is already running for this database ({_holder_text(store)}); "
            "APScheduler 3 must not share a job store. Stop that one first "
            "(e.g. systemctl stop rcm-bots-scheduler) or use another database.")


def scheduler_holder(store: Store) -> dict[str, Any] | None:
    """Who runs the scheduler for this database right now, or None; probes the lock without keeping it."""
    held = False
    if store.is_sqlite:
        path = _sqlite_lock_path(store.url)
        if path is None or not path.exists():
            return None
        with path.open("a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fh, fcntl.LOCK_UN)
            except BlockingIOError:
                held = True
    else:
        with store.engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_LOCK_KEY}).scalar()
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
            held = not got
    return (store.get_meta(HOLDER_META_KEY) or {"host": None, "pid": None, "started": None}) if held else None

