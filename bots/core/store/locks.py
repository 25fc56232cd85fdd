"""Named locks across every process (and machine) using one database.

Some work must not run twice at once against a database: the scheduler (one per database, for
its life) and loading the edit tables (two robots' first claim_edits runs would both load the
samples and each drop the other's version). A ``StoreLock`` lives outside the tables so a killed
holder never leaves it behind: a ``flock``-ed file beside a SQLite database, released by the OS
when the process dies, or a session-level advisory lock on PostgreSQL, released when its
connection closes. It is reentrant within a process: a block that holds it may call code that
takes it again (an import inside the sample load) without waiting on itself.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from sqlalchemy import Connection, make_url, text

if TYPE_CHECKING:
    from bots.core.store.base import StoreBase

__all__ = ["StoreLock"]

# What this thread holds of the reentrant locks: (database url, lock name) → [depth, file or connection].
_mine = threading.local()


def lock_key(name: str) -> int:
    """The bigint a PostgreSQL advisory lock takes for this name (stable across machines)."""
    return int.from_bytes(hashlib.sha256(f"rcm-bots:{name}".encode()).digest()[:8], "big", signed=True)


def lock_path(url: str, name: str) -> Path | None:
    """The file beside a SQLite database that carries the lock (None: a private in-memory database)."""
    db = make_url(url).database
    if not db or db == ":memory:":
        return None
    path = Path(db)
    return path.with_name(f"{path.name}.{name}.lock")


class StoreLock:
    """``with StoreLock(store, "edit_tables"):`` waits for the lock; ``acquire(wait=False)`` tries once.

    Every holder has its own file description or connection, so another thread of the same process
    waits like another machine does. ``reentrant`` (the default) lets the thread that holds the lock
    take it again; the scheduler's lock is not reentrant, so a second scheduler in one process is
    refused as one elsewhere is.
    """

    def __init__(self, store: StoreBase, name: str, *, reentrant: bool = True):
        self.store, self.name, self.reentrant = store, name, reentrant
        self._key = (store.url, name)
        self._handle: object = None

    def acquire(self, *, wait: bool = True) -> bool:
        held = self._held()
        if self.reentrant and self._key in held:
            held[self._key][0] += 1
            return True
        handle = self._take(wait)
        if handle is None:
            return False
        if self.reentrant:
            held[self._key] = [1, handle]
        else:
            self._handle = handle
        return True

    def release(self) -> None:
        if self.reentrant:
            held = self._held()
            if self._key not in held:
                raise RuntimeError(f"the {self.name} lock is not held by this thread")
            held[self._key][0] -= 1
            if held[self._key][0]:
                return
            handle = held.pop(self._key)[1]
        else:
            handle, self._handle = self._handle, None
            if handle is None:
                return
        self._give(handle)

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    @staticmethod
    def _held() -> dict[tuple[str, str], list[object]]:
        if not hasattr(_mine, "held"):
            _mine.held = {}
        return _mine.held  # type: ignore[no-any-return]

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock now (probed without keeping it)."""
        if self.store.is_sqlite:
            path = lock_path(self.store.url, self.name)
            if path is None or not path.exists():
                return False
            with path.open("a+") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    fcntl.flock(fh, fcntl.LOCK_UN)
                except BlockingIOError:
                    return True
            return False
        with self.store.engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(self.name)}).scalar()
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self.name)})
            conn.commit()
            return not got

    # ---- the OS-level lock ------------------------------------------------------------------------

    def _take(self, wait: bool) -> IO[str] | Connection | bool | None:
        if self.store.is_sqlite:
            path = lock_path(self.store.url, self.name)
            if path is None:
                return True  # nothing else can open a private in-memory database
            fh = path.open("a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                fh.close()
                return None
            return fh
        conn = self.store.engine.connect()
        try:
            fn = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            got = conn.execute(text(f"SELECT {fn}(:key)"), {"key": lock_key(self.name)}).scalar()
            conn.commit()  # session-level: it outlives the transaction, not the connection
        except BaseException:
            conn.close()
            raise
        if wait or got:
            return conn
        conn.close()
        return None

    def _give(self, handle: object) -> None:
        if isinstance(handle, Connection):
            try:
                handle.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self.name)})
                handle.commit()
            finally:
                handle.close()
        elif handle is not True:
            fcntl.flock(handle, fcntl.LOCK_UN)  # type: ignore[arg-type]
            handle.close()  # type: ignore[attr-defined]
