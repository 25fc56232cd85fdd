"""The scheduler: runs on time, never twice at once, records missed and skipped runs,
allows one scheduler per database, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import update
from structlog.testing import capture_logs
from typer.testing import CliRunner

from config_helpers import write_toml

from bots.cli import app
from bots.core.errors import ConfigError
from bots.core.scheduler import (
    JOBS_TABLE, BotScheduler, SchedulerLocked, build_scheduler, cron_trigger, crontab_day_of_week,
    job_id, scheduler_holder,
)
from bots.core.scheduler.jobstore import _stored_jobs
from bots.core.settings import Settings
from bots.core.store import Store

TESTS = Path(__file__).resolve().parents[1]  # tests/: fake_bots and the helpers
FACTORY = "fake_bots:make_counting_bot"


def write_config(config_dir: Path, *, items: int = 3, delay: float = 0.0, trace: Path | None = None,
                 schedule: str | None = None, grace: int = 900) -> None:
    bot: dict[str, Any] = {"options": {"items": items, "delay": delay, **({"trace": str(trace)} if trace else {})}}
    if schedule:
        bot["schedule"] = schedule
    write_toml(config_dir / "bots.toml", {"timezone": "UTC", "scheduler": {"misfire_grace_seconds": grace},
                                          "bots": {"claim_edits": bot}})


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Scheduled jobs build their Settings from the environment, as under ``bots scheduler start``."""
    monkeypatch.setenv("BOTS_HOME", str(settings.home))
    monkeypatch.setenv("BOTS_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.delenv("BOTS_DATABASE_URL", raising=False)
    return settings


def fresh(settings: Settings) -> Settings:
    """Settings that re-read bots.toml (``config`` is cached per object)."""
    return Settings(home=settings.home, config_dir=settings.config_dir, _env_file=None)


@pytest.fixture
def running() -> Iterator[list[BotScheduler]]:
    """Schedulers a test started; shut down even when the test fails."""
    started: list[BotScheduler] = []
    yield started
    for s in started:
        s.shutdown()


def start_background(settings: Settings, running: list[BotScheduler], **kw: object) -> BotScheduler:
    sched = build_scheduler(fresh(settings), scheduler_cls=BackgroundScheduler,
                            factories={"claim_edits": FACTORY}, **kw)  # type: ignore[arg-type]
    running.append(sched)
    sched.start()
    return sched


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def statuses(store: Store) -> list[str]:
    return [r["status"] for r in store.list_runs("claim_edits", last=100)]


def test_one_second_interval_runs_the_bot_and_records_the_run(env: Settings, store: Store,
                                                                running: list[BotScheduler]) -> None:
    write_config(env.config_dir, items=3)
    with capture_logs() as logs:
        sched = start_background(env, running, triggers={"claim_edits": IntervalTrigger(seconds=1)})
        wait_for(lambda: "succeeded" in statuses(store))
        sched.shutdown()
    # The first run does the three items; on a 1 s interval a later one may have started before shutdown.
    run = min((r for r in store.list_runs("claim_edits") if r["status"] == "succeeded"), key=lambda r: r["started_at"])
    assert run["trigger"] == "scheduler" and run["items"] == 3 and run["done"] == 3
    assert {i["state"] for i in store.work_items()} == {"done"}
    finished = [e for e in logs if e["event"] == "scheduled_run_finished"]
    assert finished and finished[0]["bot"] == "claim_edits" and finished[0]["run_id"] == run["run_id"]
    assert scheduler_holder(store) is None, "shutdown releases the one-scheduler lock"


def test_an_overrunning_job_is_not_started_twice_and_the_skip_is_recorded(
        env: Settings, store: Store, running: list[BotScheduler], tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    write_config(env.config_dir, items=3, delay=0.7, trace=trace)  # ~2 s per run on a 1 s interval
    with capture_logs() as logs:
        sched = start_background(env, running, triggers={"claim_edits": IntervalTrigger(seconds=1)})
        wait_for(lambda: "skipped" in statuses(store) and "succeeded" in statuses(store))
        sched.shutdown()
    runs = store.list_runs("claim_edits", last=100)
    real = [r for r in runs if r["status"] not in ("skipped",)]
    spans = sorted((r["started_at"], r["ended_at"]) for r in real)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "runs never overlap"
    first = next(r for r in real if r["items"] == 3)
    skipped = [r for r in runs if r["status"] == "skipped"]
    assert any(first["run_id"] in r["message"] and "still going" in r["message"] for r in skipped)
    assert sorted(trace.read_text().split()[1::2]) == ["item-000", "item-001", "item-002"], "each item once"
    assert any(e["event"] == "scheduled_run_skipped" and e["running_run_id"] == first["run_id"] for e in logs)


def _set_stored_next_run(store: Store, when: datetime) -> None:
    """What a scheduler down over a fire time leaves behind: a stored next run time in the past."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    jobs_t = SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE).jobs_t
    state = _stored_jobs(store.engine)[job_id("claim_edits")]
    state["next_run_time"] = when
    with store.begin() as conn:
        conn.execute(update(jobs_t).where(jobs_t.c.id == job_id("claim_edits")).values(
            next_run_time=datetime_to_utc_timestamp(when), job_state=pickle.dumps(state)))


def _scheduler_ran_once_and_stopped(env: Settings, running: list[BotScheduler]) -> None:
    sched = start_background(env, running)
    sched.shutdown()


def test_a_run_missed_beyond_the_grace_time_is_logged_and_recorded(env: Settings, store: Store,
                                                                    running: list[BotScheduler],
                                                                    tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    # A fire hour far from now: with coalescing, a fire time inside the grace window would run instead.
    hour = (datetime.now(UTC).hour + 12) % 24
    write_config(env.config_dir, schedule=f"0 {hour} * * *", grace=900, trace=trace)
    _scheduler_ran_once_and_stopped(env, running)
    _set_stored_next_run(store, datetime.now(UTC) - timedelta(hours=1))
    with capture_logs() as logs:
        sched = start_background(env, running)
        wait_for(lambda: "missed" in statuses(store))
        sched.shutdown()
    missed = next(r for r in store.list_runs("claim_edits") if r["status"] == "missed")
    assert "was missed" in missed["message"] and "misfire grace of 900 s" in missed["message"]
    assert not trace.exists(), "a missed run does not run"
    event = next(e for e in logs if e["event"] == "scheduled_run_missed")
    assert event["bot"] == "claim_edits" and event["late_seconds"] >= 3600
    nxt = _stored_jobs(store.engine)[job_id("claim_edits")]["next_run_time"]
    assert nxt > datetime.now(UTC) and (nxt.hour, nxt.minute) == (hour, 0), "the schedule carries on"


def test_a_run_due_while_the_scheduler_was_down_still_starts_within_the_grace_time(
        env: Settings, store: Store, running: list[BotScheduler]) -> None:
    write_config(env.config_dir, schedule="0 6 * * *", grace=900)
    _scheduler_ran_once_and_stopped(env, running)
    _set_stored_next_run(store, datetime.now(UTC) - timedelta(seconds=5))
    sched = start_background(env, running)  # re-adding the unchanged job keeps its stored next run time
    wait_for(lambda: "succeeded" in statuses(store))
    sched.shutdown()
    assert statuses(store) == ["succeeded"]


def test_a_second_scheduler_on_the_same_database_refuses_until_the_first_stops(
        env: Settings, store: Store) -> None:
    write_config(env.config_dir, schedule="0 6 * * *")
    first = build_scheduler(fresh(env), scheduler_cls=BackgroundScheduler)
    try:
        with pytest.raises(SchedulerLocked) as err:
            build_scheduler(fresh(env), scheduler_cls=BackgroundScheduler)
        msg = str(err.value)
        assert "another scheduler is already running for this database" in msg
        assert f"pid {os.getpid()}" in msg and "APScheduler 3 must not share a job store" in msg
        cli = subprocess.run([sys.executable, "-m", "bots.cli", "scheduler", "start"], capture_output=True,
                             text=True, timeout=60, env={**os.environ, "COLUMNS": "250"})
        assert cli.returncode == 1
        assert "another scheduler is already running" in cli.stderr and f"pid {os.getpid()}" in cli.stderr
        assert scheduler_holder(store)["pid"] == os.getpid()  # type: ignore[index]
    finally:
        first.shutdown()
    again = build_scheduler(fresh(env), scheduler_cls=BackgroundScheduler)
    again.shutdown()


SIGTERM_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from apscheduler.triggers.interval import IntervalTrigger
import bots.core.scheduler as scheduler
from bots.cli import app

build = scheduler.build_scheduler
scheduler.build_scheduler = lambda settings, **kw: build(
    settings, triggers={{"claim_edits": IntervalTrigger(seconds=1)}}, factories={{"claim_edits": {factory!r}}})
app(["--home", {home!r}, "--config-dir", {config!r}, "scheduler", "start"], prog_name="bots")
"""


def test_sigterm_lets_the_running_bot_finish_its_item_and_exits_0(env: Settings, store: Store,
                                                                 tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    write_config(env.config_dir, items=200, delay=0.05, trace=trace)  # ~10 s: still going at SIGTERM
    script = SIGTERM_SCRIPT.format(tests=str(TESTS), factory=FACTORY, home=str(env.home),
                                   config=str(env.config_dir))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for(lambda: trace.exists() and len(trace.read_text().splitlines()) >= 3, timeout=30)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "scheduler stopped" in out
    runs = [r for r in store.list_runs("claim_edits") if r["status"] != "skipped"]  # skips: runs overlapping it
    assert [r["status"] for r in runs] == ["interrupted"], "the run finished its item and was closed, not left running"
    done = len(trace.read_text().splitlines())
    assert runs[0]["done"] == done < 200
    states = [i["state"] for i in store.work_items()]
    assert "in_progress" not in states and states.count("done") == done
    assert scheduler_holder(store) is None


def test_jobs_lists_schedules_with_next_run_times(env: Settings, store: Store, running: list[BotScheduler]) -> None:
    write_config(env.config_dir, schedule="0 6 * * 1-5")
    runner = CliRunner()
    args = ["--home", str(env.home), "--config-dir", str(env.config_dir), "scheduler", "jobs", "--json"]
    before = json.loads(runner.invoke(app, args).stdout)
    assert before["scheduler_running"] is False
    [job] = before["jobs"]
    assert (job["bot"], job["schedule"], job["timezone"], job["source"]) == ("claim_edits", "0 6 * * 1-5", "UTC", "config")
    nxt = datetime.fromisoformat(job["next_run_time"])
    assert (nxt.hour, nxt.minute) == (6, 0) and nxt.weekday() < 5, "crontab 1-5 is Monday to Friday"
    start_background(env, running)
    during = json.loads(runner.invoke(app, args).stdout)
    assert during["scheduler_running"] is True and during["scheduler"]["pid"] == os.getpid()
    assert during["jobs"][0]["source"] == "job store" and during["jobs"][0]["next_run_time"] == job["next_run_time"]


def test_a_bot_that_lost_its_schedule_has_its_job_removed_at_start(env: Settings, store: Store,
                                                                    running: list[BotScheduler]) -> None:
    write_config(env.config_dir, schedule="0 6 * * *")
    _scheduler_ran_once_and_stopped(env, running)
    assert job_id("claim_edits") in _stored_jobs(store.engine)
    write_config(env.config_dir)
    _scheduler_ran_once_and_stopped(env, running)
    assert _stored_jobs(store.engine) == {}


def test_crontab_weekday_numbers_mean_what_they_mean_in_crontab() -> None:
    assert crontab_day_of_week("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_day_of_week("0") == crontab_day_of_week("7") == "sun"
    assert crontab_day_of_week("5-7") == "fri,sat,sun"
    assert crontab_day_of_week("sat,sun") == "sat,sun"
    assert crontab_day_of_week("0-6") == crontab_day_of_week("*") == "*"
    assert crontab_day_of_week("1-5/2") == "mon,wed,fri"
    friday = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert cron_trigger("0 6 * * 1-5", "UTC").get_next_fire_time(None, friday) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def test_a_bad_schedule_names_the_key_before_anything_starts(env: Settings) -> None:
    write_config(env.config_dir, schedule="0 25 * * *")
    with pytest.raises(ConfigError, match=r"bots\.claim_edits\.schedule.*0 25"):
        build_scheduler(fresh(env), scheduler_cls=BackgroundScheduler)
