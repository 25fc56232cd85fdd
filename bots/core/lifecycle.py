"""Item, row and run states: the one place their names live.

(To be completed: enums, the allowed-transitions table and the settle function.)
"""

from __future__ import annotations

__all__ = ["ItemState", "RunStatus"]


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
