"""The scheduler's job store (APScheduler's table in the store's database) and the job listing.

Next run times survive a restart because they live in the database. ``build_scheduler``
reads the stored jobs first (without starting a scheduler) so a job whose schedule did not
change keeps its stored next run time; ``list_jobs`` reads them to show the next runs.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine, inspect, select

from bots.core.scheduler.cron import _schedules
from bots.core.scheduler.job import JOB_FUNC
from bots.core.settings import Settings
from bots.core.store import Store

__all__ = ["JOBS_TABLE", "JOB_PREFIX", "JobInfo", "job_id", "list_jobs"]

JOBS_TABLE = "apscheduler_jobs"
JOB_PREFIX = "bot:"


def job_id(bot: str) -> str:
    return f"{JOB_PREFIX}{bot}"


def _bot_of(job: str) -> str:
    return job.removeprefix(JOB_PREFIX)


def _ensure_jobs_table(engine: Engine) -> SQLAlchemyJobStore:
    jobstore = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
    jobstore.jobs_t.create(engine, checkfirst=True)
    return jobstore


def _stored_jobs(engine: Engine) -> dict[str, dict[str, Any]]:
    """The job store's rows as APScheduler's own job state dicts (read without starting a scheduler)."""
    if not inspect(engine).has_table(JOBS_TABLE):
        return {}
    table = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE).jobs_t
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for jid, state in conn.execute(select(table.c.id, table.c.job_state)):
            try:
                out[jid] = pickle.loads(state)
            except Exception:  # written by another version: it is replaced or removed at start
                out[jid] = {}
    return out


def _same_job(stored: dict[str, Any], trigger: BaseTrigger, args: list[Any], kwargs: dict[str, Any]) -> bool:
    return (stored.get("func") == JOB_FUNC and list(stored.get("args", ())) == args
            and stored.get("kwargs") == kwargs and repr(stored.get("trigger")) == repr(trigger)
            and stored.get("next_run_time") is not None)



@dataclass
class JobInfo:
    bot: str
    job_id: str
    schedule: str
    timezone: str
    inbox: str | None
    next_run_time: datetime | None
    source: str  # "job store", "config" (not stored yet or schedule changed) or "job store, stale"

    def as_dict(self) -> dict[str, Any]:
        return {"bot": self.bot, "job_id": self.job_id, "schedule": self.schedule, "timezone": self.timezone,
                "inbox": self.inbox, "next_run_time": self.next_run_time.isoformat() if self.next_run_time else None,
                "source": self.source}


def list_jobs(settings: Settings, store: Store, *, now: datetime | None = None) -> list[JobInfo]:
    """Each configured schedule with its next run: from the job store when the scheduler has
    stored this same schedule before, else computed from bots.toml. Stored jobs whose bot lost
    its schedule are listed too; the next ``scheduler start`` removes them."""
    now = now or datetime.now(UTC)
    stored = _stored_jobs(store.engine)
    out = []
    for s in _schedules(settings):
        old = stored.get(job_id(s.bot), {})
        if _same_job(old, s.trigger, [s.bot], old.get("kwargs", {})):
            nxt, source = old["next_run_time"], "job store"
        else:
            nxt, source = s.trigger.get_next_fire_time(None, now), "config"
        out.append(JobInfo(s.bot, job_id(s.bot), s.cron or str(s.trigger), s.timezone,
                           str(s.inbox) if s.inbox else None, nxt, source))
    configured = {j.job_id for j in out}
    for jid, state in sorted(stored.items()):
        if jid not in configured:
            trig = state.get("trigger")
            out.append(JobInfo(_bot_of(jid), jid, str(trig) if trig else "?", str(getattr(trig, "timezone", "")),
                               None, state.get("next_run_time"), "job store, stale"))
    return out
