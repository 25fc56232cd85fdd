"""The scheduler: each bot runs on its cron schedule from config/bots.toml, unattended.

A package of small modules, each with one concern (read its docstring):

- ``cron``: crontab expressions to APScheduler 3 triggers (crontab's weekday numbers),
  time zones, the longest gap between runs (health checks use it);
- ``lock``: the one-scheduler-per-database lock and who holds it;
- ``job``: the job function a stored job names, ``run_scheduled_bot``;
- ``jobstore``: APScheduler's job table in the store's database, and ``list_jobs``;
- ``service``: ``build_scheduler`` and ``BotScheduler`` (start, signal-driven stop, run-history
  events for missed, skipped and failed runs).

Everything public stays importable from ``bots.core.scheduler``. Jobs persisted in users'
databases reference ``bots.core.scheduler:run_scheduled_bot`` (``JOB_FUNC``), so that name
must keep resolving here.
"""

from __future__ import annotations

from bots.core.scheduler.cron import bot_trigger, cron_trigger, crontab_day_of_week, longest_gap, schedule_timezone
from bots.core.scheduler.job import JOB_FUNC, run_scheduled_bot
from bots.core.scheduler.jobstore import JOBS_TABLE, JobInfo, _stored_jobs, job_id, list_jobs
from bots.core.scheduler.lock import SchedulerLock, SchedulerLocked, scheduler_holder
from bots.core.scheduler.service import BotScheduler, build_scheduler

__all__ = [
    "JOB_FUNC", "JOBS_TABLE", "BotScheduler", "JobInfo", "SchedulerLock", "SchedulerLocked",
    "bot_trigger", "build_scheduler", "cron_trigger", "crontab_day_of_week", "job_id", "list_jobs",
    "longest_gap", "run_scheduled_bot", "schedule_timezone", "scheduler_holder",
]
