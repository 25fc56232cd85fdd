"""The scheduler: each bot runs on its cron schedule from config/bots.toml, unattended.

APScheduler 3 keeps its jobs in the store's own database (table ``apscheduler_jobs``),
so next run times survive a restart: a run that fell due while the scheduler was
down still starts if it is less than ``[scheduler] misfire_grace_seconds`` late, and is
recorded as ``missed`` in run history if it is later. That is why a job whose schedule
did not change keeps its stored next run time when ``build_scheduler`` re-adds it with
``replace_existing=True`` (a plain replace would quietly recompute it from "now").

Exactly one scheduler may use a database: two APScheduler 3 schedulers sharing a job
store would both run every job. ``build_scheduler`` therefore takes a lock first (a
``flock``-ed file beside a SQLite database, released by the OS if the process dies; a
session-level advisory lock on PostgreSQL) and refuses with the holder's host and pid.

Cron expressions use crontab's day-of-week numbers (0 or 7 = Sunday, 1-5 = Monday to
Friday). APScheduler 3 counts weekdays from Monday = 0, so the field is translated to
day names before it reaches a ``CronTrigger``; untranslated, ``1-5`` would run Tuesday to
Saturday. As in APScheduler (unlike Vixie cron), a restricted day-of-month and a
restricted day-of-week must both match. A bot's ``timezone`` wins, then
``[scheduler] timezone`` if set, then the top-level ``timezone``.

Jobs are textual references (``bots.core.scheduler:run_scheduled_bot`` with the bot's
name) so the job store can pickle them. The job builds its ``Settings`` from the
environment (``bots scheduler start`` exports ``--home`` and ``--config-dir``) on every
run, so a changed bots.toml applies from the next run; a changed schedule needs a restart.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import pickle
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from apscheduler.events import (
    EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_SCHEDULER_START,
    JobEvent, JobExecutionEvent, JobSubmissionEvent, SchedulerEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import ref_to_obj
from sqlalchemy import Connection, Engine, delete, inspect, make_url, select, text

from bots.core.errors import BotError, ConfigError
from bots.core.inbox import process_inbox, resolve_inbox
from bots.core.logging import get_logger
from bots.core.settings import BOT_NAMES, BotsConfig, Settings
from bots.core.store import RunStatus, Store, utcnow

__all__ = [
    "JOB_FUNC", "JOBS_TABLE", "BotScheduler", "JobInfo", "SchedulerLock", "SchedulerLocked",
    "bot_trigger", "build_scheduler", "cron_trigger", "crontab_day_of_week", "job_id", "list_jobs",
    "longest_gap", "run_scheduled_bot", "schedule_timezone", "scheduler_holder",
]

JOBS_TABLE = "apscheduler_jobs"
JOB_FUNC = "bots.core.scheduler:run_scheduled_bot"
JOB_PREFIX = "bot:"
HOLDER_META_KEY = "scheduler"
# pg advisory locks are keyed by a bigint and scoped to one database; derive a stable one.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"rcm-bots:scheduler").digest()[:8], "big", signed=True)
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_EXACT_FIRES = 1500  # fire times walked one by one before longest_gap switches to hourly probes
_GAP_HORIZON = timedelta(days=400)

log = get_logger("bots.scheduler")

# Set when the scheduler of this process is stopping. Jobs are module-level functions looked
# up by name (the job store pickles a reference, not an object), so the event the running
# bots watch has to live here rather than be passed in.
_stop = threading.Event()
_NOT_STARTED = "not started"
_STOPPING = "the scheduler was stopping"


class SchedulerLocked(BotError):
    """Another scheduler already runs against this database."""


# ---- schedules --------------------------------------------------------------------------------
def job_id(bot: str) -> str:
    return f"{JOB_PREFIX}{bot}"


def _bot_of(job: str) -> str:
    return job.removeprefix(JOB_PREFIX)


def schedule_timezone(config: BotsConfig, bot: str | None = None) -> str:
    if bot is not None and config.bot(bot).timezone:
        return config.bot(bot).timezone  # type: ignore[return-value]
    if "timezone" in config.scheduler.model_fields_set:
        return config.scheduler.timezone
    return config.timezone


def _cron_day(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _CRON_DAYS:
        return _CRON_DAYS.index(token[:3])
    raise ValueError(f"bad day of week {token!r} (0-7 or sun-sat)")


def crontab_day_of_week(field: str) -> str:
    """Translate a crontab day-of-week field (0/7 = Sunday) into APScheduler 3 day names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"bad step in day of week {part!r}")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            lo, hi = _cron_day(first), _cron_day(last)
        else:
            lo = _cron_day(base)
            hi = 7 if slash else lo
        if hi < lo:
            raise ValueError(f"bad range in day of week {part!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_CRON_DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """A ``CronTrigger`` from a 5-field crontab expression with crontab's weekday numbers."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected a 5-field cron expression, got {expr!r}")
    fields[4] = crontab_day_of_week(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def bot_trigger(settings: Settings, bot: str) -> CronTrigger:
    """The trigger for a bot's configured schedule; a bad schedule is a ConfigError naming the key."""
    cfg = settings.config.bot(bot)
    if cfg.schedule is None:
        raise ConfigError(f"{settings.config_file('bots.toml')}: bot {bot!r} has no schedule")
    tz = schedule_timezone(settings.config, bot)
    try:
        return cron_trigger(cfg.schedule, tz)
    except Exception as exc:  # ValueError from the fields, ZoneInfoNotFoundError from the zone
        raise ConfigError(f"{settings.config_file('bots.toml')}: key 'bots.{bot}.schedule': {exc} "
                          f"(value: {cfg.schedule!r}, timezone {tz!r})") from None


@dataclass
class _Schedule:
    bot: str
    trigger: BaseTrigger
    cron: str | None
    timezone: str
    inbox: Path | None


def _schedules(settings: Settings, triggers: Mapping[str, BaseTrigger] | None = None) -> list[_Schedule]:
    out = []
    for bot in BOT_NAMES:
        cfg = settings.config.bot(bot)
        inbox = resolve_inbox(settings, cfg.inbox) if cfg.inbox else None
        tz = schedule_timezone(settings.config, bot)
        if triggers and bot in triggers:
            out.append(_Schedule(bot, triggers[bot], None, tz, inbox))
        elif cfg.enabled and cfg.schedule:
            out.append(_Schedule(bot, bot_trigger(settings, bot), cfg.schedule, tz, inbox))
    return out


def longest_gap(trigger: BaseTrigger, start: datetime, *, window: timedelta = timedelta(days=7)) -> timedelta | None:
    """The longest time between consecutive fire times from ``start`` over ``window``.

    Exact for schedules that fire up to ~1500 times in the window; beyond that the walk
    probes hourly, which can overstate a gap by at most an hour (harmless for a health
    threshold, and it keeps a once-a-minute schedule from costing a second). None if the
    trigger never fires.
    """
    first = trigger.get_next_fire_time(None, start)
    if first is None:
        return None
    end = first + window
    prev, longest, n = first, None, 0
    while True:
        probe = prev + (timedelta(seconds=1) if n < _EXACT_FIRES else timedelta(hours=1))
        nxt = trigger.get_next_fire_time(None, probe)
        if nxt is None or nxt - first > _GAP_HORIZON:
            return longest
        gap = nxt.astimezone(UTC) - prev.astimezone(UTC)  # across a DST change too
        longest = gap if longest is None or gap > longest else longest
        prev, n = nxt, n + 1
        if nxt >= end:
            return longest


# ---- the one-scheduler lock ---------------------------------------------------------------------
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


# ---- the job ------------------------------------------------------------------------------------
def run_scheduled_bot(bot_name: str, factory: str | None = None) -> dict[str, Any]:
    """The scheduler's job: load the bot's inbox, then one run of the bot.

    ``factory`` (``"module:callable"`` taking ``Settings``) replaces ``bots.<name>.create_bot``;
    tests use it to schedule a test bot. Production jobs are by name only, so bots.core never
    imports a bot. Returns the run summary (the EXECUTED event logs it).
    """
    from bots.core.runner import run_bot

    if bot_name not in BOT_NAMES:
        raise ConfigError(f"unknown bot {bot_name!r} in a scheduled job; known: {', '.join(BOT_NAMES)}")
    if _stop.is_set():
        return {"bot": bot_name, "status": _NOT_STARTED, "message": _STOPPING}
    settings = Settings()
    if not settings.config.bot(bot_name).enabled:
        return {"bot": bot_name, "status": _NOT_STARTED, "message": "disabled in bots.toml"}
    store = Store(settings.db_url)
    try:
        extra: dict[str, Any] = {}
        inbox = settings.config.bot(bot_name).inbox
        if inbox:
            loaded = process_inbox(settings, store, resolve_inbox(settings, inbox), create=True)
            extra = {"inbox_archived": len(loaded.archived), "inbox_rejected": len(loaded.rejected),
                     "inbox_waiting": len(loaded.waiting)}
        make: Callable[[Settings], Any] = (ref_to_obj(factory) if factory
                                           else importlib.import_module(f"bots.{bot_name}").create_bot)
        result = run_bot(make(settings), settings, store, trigger="scheduler", stop=_stop)
        return {**result.as_dict(), **extra}
    finally:
        store.close()


# ---- the scheduler ------------------------------------------------------------------------------
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
    store = Store(settings.db_url)
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
            executors={"default": ThreadPoolExecutor(max_workers=len(BOT_NAMES))},
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


# ---- listing ------------------------------------------------------------------------------------
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
