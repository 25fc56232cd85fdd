"""The one-scheduler lock: exactly one scheduler may use a database.

Two APScheduler 3 schedulers sharing a job store would both run every job, so
``build_scheduler`` takes this lock first (a ``flock``-ed file beside a SQLite database,
released by the OS if the process dies; a session-level advisory lock on PostgreSQL) and
refuses with the holder's host and pid. ``bots scheduler jobs`` probes it to say whether a
scheduler is running.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from bots.core.errors import BotError
from bots.core.store import Store, utcnow
from bots.core.store.locks import StoreLock

__all__ = ["HOLDER_META_KEY", "SchedulerLock", "SchedulerLocked", "scheduler_holder"]

HOLDER_META_KEY = "scheduler"


class SchedulerLocked(BotError):
    """Another scheduler already runs against this database."""


class SchedulerLock:
    """Held for the scheduler's whole life; ``acquire`` raises ``SchedulerLocked`` if taken.

    The lock itself lives outside the tables (``StoreLock``: a file lock, an advisory lock) so a
    killed scheduler never leaves it behind; the ``meta`` row only names the holder for the message.
    """

    def __init__(self, store: Store):
        self.store = store
        self._lock = StoreLock(store, "scheduler", reentrant=False)

    def acquire(self) -> None:
        if not self._lock.acquire(wait=False):
            raise SchedulerLocked(_locked_message(self.store))
        self.store.set_meta(HOLDER_META_KEY, {"host": socket.gethostname(), "pid": os.getpid(),
                                              "started": utcnow().isoformat(timespec="seconds")})

    def release(self) -> None:
        self._lock.release()


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
    if not StoreLock(store, "scheduler", reentrant=False).held_elsewhere():
        return None
    return store.get_meta(HOLDER_META_KEY) or {"host": None, "pid": None, "started": None}
