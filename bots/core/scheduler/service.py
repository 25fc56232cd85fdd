"""The running scheduler: builds the APScheduler with one job per scheduled bot, runs it, stops it.

APScheduler 3 keeps its jobs in the store's own database (``jobstore``), so next run times
survive a restart: a run that fell due while the scheduler was down still starts if it is
less than ``[scheduler] misfire_grace_seconds`` late, and is recorded as ``missed`` in run
history if it is later. That is why a job whose schedule did not change keeps its stored
next run time when ``build_scheduler`` re-adds it with ``replace_existing=True`` (a plain
replace would quietly recompute it from "now"). Run-history events (missed, skipped,
failed) are written by ``BotScheduler``'s listener. This module is over the usual size
because ``BotScheduler`` is one object: lock, start, signal-driven stop and its events.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_SCHEDULER_START,
    JobEvent, JobExecutionEvent, JobSubmissionEvent, SchedulerEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import delete

from bots.core import registry
from bots.core.logging import get_logger
from bots.core.scheduler.cron import _schedules, schedule_timezone
from bots.core.scheduler.job import _NOT_STARTED, _STOPPING, JOB_FUNC, _stop, after_run
from bots.core.scheduler.jobstore import _bot_of, _ensure_jobs_table, _same_job, _stored_jobs, job_id
from bots.core.scheduler.lock import SchedulerLock
from bots.core.settings import Settings
from bots.core.store import RunStatus, Store, open_store

__all__ = ["BotScheduler", "build_scheduler"]

log = get_logger("bots.scheduler")


class _StopGuard(BaseScheduler):
    """Processes no jobs once stopping has begun.

    APScheduler 3's ``shutdown`` marks the scheduler stopped and then waits for running jobs;
    a wakeup in that window would submit a due job to the closing executor (which refuses it)
    and still move the stored next run time on, losing the run without a trace.
    """

    def _process_jobs(self) -> float | None:
        if _stop.is_set() or self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


class BotScheduler:
    """A built scheduler that holds the one-scheduler lock until ``shutdown``.

    ``run`` serves in the foreground until SIGTERM/SIGINT (``bots scheduler start``);
    ``start``/``shutdown`` embed it (tests use a ``BackgroundScheduler``).
    """

    def __init__(self, scheduler: BaseScheduler, settings: Settings, store: Store, lock: SchedulerLock):
        self.scheduler = scheduler
        self.settings = settings
        self.store = store
        self.lock = lock
        self.grace = settings.config.scheduler.misfire_grace_seconds
        self._shutdown_thread: threading.Thread | None = None
        self._closed = False
        scheduler.add_listener(self._on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
                               | EVENT_JOB_MAX_INSTANCES)

    def jobs(self) -> list[Job]:
        return self.scheduler.get_jobs()

    def start(self) -> None:
        """Start; blocks for a ``BlockingScheduler``. The lock is released if start fails."""
        _stop.clear()
        try:
            self.scheduler.start()
        except BaseException:
            self._close()
            raise

    def shutdown(self) -> None:
        """Let each running bot finish its current item, wait for it, release the lock."""
        _stop.set()
        try:
            if self.scheduler.state != STATE_STOPPED:
                self.scheduler.shutdown(wait=True)
            _stop.clear()  # every job has returned; nothing is left to stop
        finally:
            self._close()

    def run(self, on_started: Callable[[list[Job]], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT, then stop cleanly (``shutdown``) and return.

        The signal handler only sets the stop event and starts a thread that shuts down:
        waiting for running bots inside a handler could deadlock with the scheduler's own
        locks or an open SQLite transaction of the interrupted main thread.
        """
        old: dict[int, Any] = {}

        def handler(signum: int, _frame: Any) -> None:
            if self._shutdown_thread is not None:
                log.warning("scheduler_stop_already_requested", signal=signal.Signals(signum).name)
                return
            log.warning("scheduler_stop_requested", signal=signal.Signals(signum).name)
            _stop.set()
            self._shutdown_thread = threading.Thread(target=self.shutdown, name="scheduler-shutdown")
            self._shutdown_thread.start()

        def started(_event: SchedulerEvent) -> None:
            # Installed once running (start() runs this in the main thread), so a stop always finds
            # a running scheduler to shut down; a signal before this point just ends the process.
            for s in (signal.SIGTERM, signal.SIGINT):
                old[s] = signal.signal(s, handler)
            jobs = self.jobs()
            log.info("scheduler_started", pid=os.getpid(),
                     jobs={j.id: j.next_run_time.isoformat() if j.next_run_time else None for j in jobs})
            if on_started is not None:
                on_started(jobs)

        self.scheduler.add_listener(started, EVENT_SCHEDULER_START)
        try:
            self.start()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            if self._shutdown_thread is not None:
                self._shutdown_thread.join()
            elif self.scheduler.state != STATE_STOPPED:
                self.shutdown()
            self._close()
        log.info("scheduler_stopped", pid=os.getpid())

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self.lock.release()
            self.store.close()

    # ---- events ---------------------------------------------------------------------------
    def _on_job_event(self, event: JobEvent) -> None:
        bot = _bot_of(event.job_id)
        try:
            if isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_EXECUTED:
                summary = event.retval if isinstance(event.retval, dict) else {}
                log.info("scheduled_run_finished", bot=bot, job_id=event.job_id,
                         scheduled_run_time=event.scheduled_run_time.isoformat(),
                         **{k: v for k, v in summary.items() if k != "bot"})
                if summary.get("status") == _NOT_STARTED and summary.get("message") == _STOPPING:
                    # Its time came as the scheduler stopped; the stored next run time has moved on,
                    # so a restart will not run it either. Say so in run history.
                    self.store.record_run_event(
                        bot, RunStatus.MISSED, f"scheduled run at {event.scheduled_run_time.isoformat(timespec='seconds')} "
                        "not started: the scheduler was stopping", started_at=event.scheduled_run_time)
            elif isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_ERROR:
                exc = event.exception
                message = f"scheduled job raised {type(exc).__name__}: {exc}"
                log.error("scheduled_run_error", bot=bot, job_id=event.job_id, error_type=type(exc).__name__,
                          error=str(exc), scheduled_run_time=event.scheduled_run_time.isoformat(), exc_info=exc)
                self.store.record_run_event(bot, RunStatus.FAILED, message, started_at=event.scheduled_run_time)
                after_run(self.settings, self.store)
            elif isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_MISSED:
                scheduled = event.scheduled_run_time
                late = datetime.now(UTC) - scheduled
                message = (f"scheduled run at {scheduled.isoformat(timespec='seconds')} was missed: "
                           f"{int(late.total_seconds())} s late, beyond the misfire grace of {self.grace} s "
                           f"(the scheduler was down or busy)")
                log.warning("scheduled_run_missed", bot=bot, job_id=event.job_id,
                            scheduled_run_time=scheduled.isoformat(), late_seconds=int(late.total_seconds()),
                            misfire_grace_seconds=self.grace)
                self.store.record_run_event(bot, RunStatus.MISSED, message, started_at=scheduled)
                after_run(self.settings, self.store)  # metrics and an alert for the missed run
            elif isinstance(event, JobSubmissionEvent) and event.code == EVENT_JOB_MAX_INSTANCES:
                scheduled = event.scheduled_run_times[-1]
                running = [r for r in self.store.list_runs(bot, last=5) if r["status"] == RunStatus.RUNNING]
                still = (f"run {running[0]['run_id']} (started {running[0]['started_at'][:19]} UTC)"
                         if running else "the previous run")
                message = (f"scheduled run at {scheduled.isoformat(timespec='seconds')} skipped: {still} "
                           "is still going and a bot never runs twice at once")
                log.warning("scheduled_run_skipped", bot=bot, job_id=event.job_id,
                            scheduled_run_time=scheduled.isoformat(),
                            running_run_id=running[0]["run_id"] if running else None)
                self.store.record_run_event(bot, RunStatus.SKIPPED, message, started_at=scheduled)
        except Exception as exc:  # a listener must never take the scheduler down
            log.exception("run_history_write_failed", bot=bot, job_id=event.job_id, error_type=type(exc).__name__)


def build_scheduler(settings: Settings, *, scheduler_cls: type[BaseScheduler] = BlockingScheduler,
                    triggers: Mapping[str, BaseTrigger] | None = None,
                    factories: Mapping[str, str] | None = None) -> BotScheduler:
    """Take the one-scheduler lock and set up a job per scheduled bot; not started yet.

    ``triggers`` replaces (or adds) a bot's trigger, e.g. ``IntervalTrigger(seconds=1)`` in
    tests, since bots.toml only takes 5-field cron expressions. ``factories`` maps a bot to a
    ``"module:callable"`` bot factory for its job (tests). Jobs in the store for bots that no
    longer have a schedule are removed.
    """
    schedules = _schedules(settings, triggers)  # a bad schedule fails before anything is touched
    store = open_store(settings)
    lock = SchedulerLock(store)
    try:
        lock.acquire()
    except BaseException:
        store.close()
        raise
    try:
        jobstore = _ensure_jobs_table(store.engine)
        stored = _stored_jobs(store.engine)
        wanted = {job_id(s.bot) for s in schedules}
        stale = sorted(set(stored) - wanted)
        if stale:
            with store.begin() as conn:
                conn.execute(delete(jobstore.jobs_t).where(jobstore.jobs_t.c.id.in_(stale)))
            for jid in stale:
                log.info("scheduled_job_removed", job_id=jid, reason="no schedule in bots.toml")
        guarded = type(f"Guarded{scheduler_cls.__name__}", (_StopGuard, scheduler_cls), {})
        scheduler = guarded(
            jobstores={"default": jobstore},
            executors={"default": ThreadPoolExecutor(max_workers=max(1, len(registry.names())))},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": settings.config.scheduler.misfire_grace_seconds},
            timezone=schedule_timezone(settings.config),
        )
        for s in schedules:
            args: list[Any] = [s.bot]
            kwargs = {"factory": factories[s.bot]} if factories and s.bot in factories else {}
            old = stored.get(job_id(s.bot), {})
            keep = {"next_run_time": old["next_run_time"]} if _same_job(old, s.trigger, args, kwargs) else {}
            scheduler.add_job(JOB_FUNC, trigger=s.trigger, args=args, kwargs=kwargs, id=job_id(s.bot),
                              name=f"{s.bot} {s.cron or s.trigger}", replace_existing=True, **keep)
            log.info("scheduled_job_configured", bot=s.bot, job_id=job_id(s.bot), schedule=s.cron or str(s.trigger),
                     timezone=s.timezone, inbox=str(s.inbox) if s.inbox else None,
                     kept_next_run_time=keep["next_run_time"].isoformat() if keep else None)
        return BotScheduler(scheduler, settings, store, lock)
    except BaseException:
        lock.release()
        store.close()
        raise

