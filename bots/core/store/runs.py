"""Run records: one row per run a bot made, or a scheduled run that could not happen."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from bots.core.lifecycle import RunStatus
from bots.core.store.base import StoreBase, iso as _iso, utcnow
from bots.core.store.schema import runs

__all__ = ["RunStore"]


class RunStore(StoreBase):
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
                carried_over=counts.get("retried", 0),
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

    def list_runs(self, bot: str | None = None, last: int = 20, *,
                  exclude_statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The ``last`` runs (every column), newest first; of one bot, and without runs of the
        ``exclude_statuses`` (``RunStatus``) when given."""
        q = select(runs).order_by(runs.c.started_at.desc()).limit(last)
        if bot:
            q = q.where(runs.c.bot == bot)
        if exclude_statuses:
            q = q.where(runs.c.status.not_in(list(exclude_statuses)))
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]
