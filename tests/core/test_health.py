"""`bots health`: monitoring-plugin exit codes (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), every
finding per bot with its level, JSON that parses in every case, and never a database created.
Also the labelled display zone of `bots runs` and its unknown-bot message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.core.health import Level, evaluate
from bots.core.settings import Settings
from bots.core.store import Store, utcnow
from store_helpers import insert_row, set_columns

runner = CliRunner()


def configure(settings: Settings, extra: str = "", schedule: str = "0 6 * * *") -> None:
    """Only claim_edits is scheduled, so each verdict is about one bot."""
    (settings.config_dir / "bots.toml").write_text(
        f'timezone = "UTC"\n[scheduler]\nmisfire_grace_seconds = 900\n'
        f'[bots.claim_edits]\nschedule = "{schedule}"\n{extra}\n')


def add_run(store: Store, status: str, hours_ago: float, *, pid: int | None = None, **counts: int) -> str:
    started = utcnow() - timedelta(hours=hours_ago)
    run_id = f"test-{status}-{hours_ago}-{len(store.list_runs(last=1000))}"
    insert_row(store, "runs", run_id=run_id, bot="claim_edits", trigger="scheduler", status=status,
               started_at=started.isoformat(timespec="microseconds"),
               ended_at=None if status == "running" else (started + timedelta(minutes=5)).isoformat(),
               host=store.host, pid=pid if pid is not None else os.getpid(), message=f"{status} for the test",
               **{"items": 10, "done": 10, "exceptions": 0, "failed": 0, "deferred": 0, "retries": 0, **counts})
    return run_id


def invoke(settings: Settings, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), *args],
                         env=env)


def health(settings: Settings, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = invoke(settings, "health", "--json", env=env)
    assert "Traceback" not in result.output
    body = json.loads(result.stdout)  # JSON in every case, errors included
    assert body["code"] == result.exit_code and body["status"] == ["OK", "WARNING", "CRITICAL", "UNKNOWN"][body["code"]]
    return result.exit_code, {b["bot"]: b for b in body["bots"]} | {k: body[k] for k in body if k != "bots"}


def test_a_scheduled_bot_that_never_ran_is_critical(settings: Settings, store: Store) -> None:
    configure(settings)
    code, body = health(settings)
    assert code == 2 and body["ok"] is False and body["status"] == "CRITICAL"
    assert body["claim_edits"]["reason"] == "scheduled but has never finished a run"
    assert set(body) == {"ok", "status", "code", "claim_edits"}, "unscheduled bots without runs are not judged"


def test_a_recent_successful_run_is_healthy_and_skipped_rows_do_not_count(settings: Settings, store: Store) -> None:
    configure(settings)
    run_id = add_run(store, "succeeded", hours_ago=2)
    store.record_run_event("claim_edits", "skipped", "previous run still going")
    code, body = health(settings)
    assert code == 0 and body["ok"] is True and body["status"] == "OK"
    assert body["claim_edits"]["reason"] == "ok" and body["claim_edits"]["last_run_id"] == run_id
    assert body["claim_edits"]["expected_interval_hours"] == 48.25, "twice the daily gap plus the grace time"


@pytest.mark.parametrize(("status", "code"), [("failed", 2), ("crashed", 2), ("missed", 1), ("interrupted", 1),
                                              ("degraded", 1)])
def test_a_last_run_that_did_not_succeed_is_critical_or_a_warning(settings: Settings, store: Store, status: str,
                                                                  code: int) -> None:
    configure(settings)
    add_run(store, "succeeded", hours_ago=26)
    run_id = add_run(store, status, hours_ago=2)
    got, body = health(settings)
    assert got == code
    assert body["claim_edits"]["findings"] == [{"level": ["OK", "WARNING", "CRITICAL"][code],
                                                "reason": f"last run {run_id} {status}: {status} for the test"}]


def test_a_degraded_run_that_carried_its_items_over_warns_with_both_reasons(settings: Settings, store: Store) -> None:
    """A run recorded as the runner records it: three claims put back because the portal stopped answering."""
    configure(settings)
    run_id = store.start_run("claim_edits", trigger="scheduler")
    store.finish_run(run_id, status="degraded", counts={"items": 3, "retried": 3},
                     message="acme portal stopped answering; 3 carried over")
    code, body = health(settings)
    assert code == 1
    assert body["claim_edits"]["reasons"] == [
        f"last run {run_id} degraded: acme portal stopped answering; 3 carried over",
        "all 3 items of the last run were carried over to the next run: nothing got done"]


def test_items_carried_over_count_against_health_even_in_a_succeeded_run(settings: Settings, store: Store) -> None:
    configure(settings)
    add_run(store, "succeeded", hours_ago=1, items=20, done=15, carried_over=5)
    assert health(settings)[0] == 0, "five put back of twenty is retries working (default limit 5)"
    add_run(store, "succeeded", hours_ago=0.5, items=20, done=14, carried_over=6)
    code, body = health(settings)
    assert code == 1 and body["claim_edits"]["reasons"] == ["6 items carried over to the next run (limit 5)"]
    configure(settings, "max_carried_over = 0")
    add_run(store, "succeeded", hours_ago=0.2, items=20, done=19, carried_over=1)
    assert health(settings)[1]["claim_edits"]["reasons"] == ["1 items carried over to the next run (limit 0)"]


def test_a_run_left_running_by_a_dead_process_counts_as_crashed(settings: Settings, store: Store) -> None:
    configure(settings)
    add_run(store, "succeeded", hours_ago=3)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    add_run(store, "running", hours_ago=1, pid=int(gone.stdout))
    code, body = health(settings)
    assert code == 2 and "crashed: still marked running but its process" in body["claim_edits"]["reason"]


def test_an_overdue_bot_is_critical_with_the_interval_from_config_or_the_schedule(settings: Settings,
                                                                                   store: Store) -> None:
    configure(settings)
    add_run(store, "succeeded", hours_ago=50)
    code, body = health(settings)
    assert code == 2 and body["claim_edits"]["reason"].startswith("overdue: last run started")
    assert body["claim_edits"]["reason"].endswith(" UTC, expected at least every 48.25 h"), "a labelled time"

    configure(settings, "expected_interval_hours = 74")
    assert health(settings)[0] == 0

    configure(settings, schedule="0 6 * * 1-5")  # Friday to Monday is the longest gap: 72 h
    code, body = health(settings)
    assert code == 0 and body["claim_edits"]["expected_interval_hours"] == 144.25


def test_failures_or_exceptions_over_the_configured_limits(settings: Settings, store: Store) -> None:
    configure(settings, "max_failed = 2\nmax_exception_ratio = 0.5")
    add_run(store, "succeeded", hours_ago=1, failed=2, exceptions=5)
    assert health(settings)[0] == 0, "at the limits is still healthy"
    add_run(store, "succeeded", hours_ago=0.5, failed=3, exceptions=6)
    code, body = health(settings)
    assert code == 2, "failed items over the limit are critical"
    assert body["claim_edits"]["findings"] == [
        {"level": "CRITICAL", "reason": "3 failed items in the last run (limit 2)"},
        {"level": "WARNING", "reason": "6 of 10 items were exceptions (limit 50%)"}]


def test_default_limits_apply_when_the_bot_sets_none(settings: Settings, store: Store) -> None:
    configure(settings)
    add_run(store, "succeeded", hours_ago=1, items=20, done=9, failed=5, exceptions=10)
    assert health(settings)[0] == 0, "5 failed and half exceptions are at the defaults"
    add_run(store, "succeeded", hours_ago=0.5, items=20, done=8, failed=6, exceptions=6)
    code, body = health(settings)
    assert code == 2 and body["claim_edits"]["reasons"] == ["6 failed items in the last run (limit 5)"]
    add_run(store, "succeeded", hours_ago=0.2, items=20, done=9, exceptions=11)
    code, body = health(settings)
    assert code == 1 and body["claim_edits"]["reasons"] == ["11 of 20 items were exceptions (limit 50%)"]


def test_an_unreachable_database_is_unknown_as_json(settings: Settings) -> None:
    configure(settings)
    url = "postgresql+psycopg://u:s3cr3t-pw@127.0.0.1:1/x"
    code, body = health(settings, env={"BOTS_DATABASE_URL": url})
    assert code == 3 and body["status"] == "UNKNOWN" and body["ok"] is False
    assert body["error"].startswith("OperationalError: ") and "s3cr3t-pw" not in body["error"]
    text = invoke(settings, "health", env={"BOTS_DATABASE_URL": url})
    assert text.exit_code == 3 and text.stdout.startswith("UNKNOWN: OperationalError: ")
    assert len(text.stdout.splitlines()) == 1, "one line, no traceback"


@pytest.mark.parametrize(("toml", "says"), [
    ("[bots.claim_edits]\nschedule = \"0 6 * *\"\n", "expected a 5-field cron expression"),
    ("timezone = \"Mars/Olympus\"\n", "unknown time zone"),
    ("[bots.nosuch]\n", "unknown bot 'nosuch'"),
    ("timezone = \n", "invalid TOML"),
])
def test_a_broken_config_is_unknown_as_json(settings: Settings, store: Store, toml: str, says: str) -> None:
    (settings.config_dir / "bots.toml").write_text(toml)
    code, body = health(settings)
    assert code == 3 and says in body["error"], body


def test_health_on_an_empty_home_creates_nothing(tmp_path: Path, config_dir: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home=home, config_dir=config_dir, _env_file=None)
    code, body = health(settings)
    assert code == 3 and body["error"].startswith(f"no database at {home.resolve() / 'bots.db'}")
    text = invoke(settings, "health")
    assert text.exit_code == 3 and text.stdout.startswith("UNKNOWN: no database at")
    assert list(home.iterdir()) == [], "no bots.db, no logs folder, nothing"

    missing = Settings(home=tmp_path / "typo", config_dir=config_dir, _env_file=None)
    assert health(missing)[0] == 3 and not missing.home.exists()


def test_the_text_output_names_each_bot_with_its_level(settings: Settings, store: Store) -> None:
    configure(settings)
    add_run(store, "failed", hours_ago=1)
    result = invoke(settings, "health")
    assert result.exit_code == 2
    assert result.stdout.splitlines()[:2] == ["CRITICAL: 1 critical",
                                              f"CRITICAL claim_edits: last run {store.list_runs(last=1)[0]['run_id']} "
                                              "failed: failed for the test"]


def test_evaluate_is_the_api_alerting_calls(settings: Settings, store: Store) -> None:
    """What the alerts use: a report with a code and per-bot findings, read from an open store."""
    configure(settings)
    add_run(store, "degraded", hours_ago=1)
    report = evaluate(settings, store)
    assert (report.code, report.status, report.ok) == (1, "WARNING", False)
    [bot] = report.bots
    assert bot.bot == "claim_edits" and bot.level == Level.WARNING and len(bot.findings) == 1


def test_runs_shows_times_in_the_configured_zone_labelled(settings: Settings, store: Store) -> None:
    (settings.config_dir / "bots.toml").write_text('timezone = "America/New_York"\n')
    run_id = store.start_run("claim_edits")
    set_columns(store, "runs", {"run_id": run_id}, started_at="2026-11-30T13:15:02.000000")
    store.finish_run(run_id, status="succeeded", counts={"items": 1, "done": 1})
    result = invoke(settings, "runs")
    assert result.exit_code == 0 and "2026-11-30 08:15:02 EST" in result.stdout


def test_runs_of_an_unknown_bot_exit_2_naming_the_installed_bots(settings: Settings, store: Store) -> None:
    result = invoke(settings, "runs", "--bot", "nosuch")
    assert result.exit_code == 2
    assert "unknown bot 'nosuch'; installed bots: claim_edits, payer_portal, status_sync" in result.output
