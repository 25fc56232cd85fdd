"""`bots health`: exit 0 only when every scheduled bot ran, on time, within its limits;
otherwise exit 1 with every reason, as JSON for monitoring systems."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.core.settings import Settings
from bots.core.store import Store, utcnow
from store_helpers import insert_row

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


def health(settings: Settings) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                 "health", "--json"])
    body = json.loads(result.stdout)
    return result.exit_code, {b["bot"]: b for b in body["bots"]} | {"ok": body["ok"]}


def test_a_scheduled_bot_that_never_ran_is_unhealthy(settings: Settings, store: Store) -> None:
    configure(settings)
    code, body = health(settings)
    assert code == 1 and body["ok"] is False
    assert body["claim_edits"]["reason"] == "scheduled but has never finished a run"
    assert set(body) == {"ok", "claim_edits"}, "unscheduled bots without runs are not judged"


def test_a_recent_successful_run_is_healthy_and_skipped_rows_do_not_count(settings: Settings, store: Store) -> None:
    configure(settings)
    run_id = add_run(store, "succeeded", hours_ago=2)
    store.record_run_event("claim_edits", "skipped", "previous run still going")
    code, body = health(settings)
    assert code == 0 and body["ok"] is True
    assert body["claim_edits"]["reason"] == "ok" and body["claim_edits"]["last_run_id"] == run_id
    assert body["claim_edits"]["expected_interval_hours"] == 48.25, "twice the daily gap plus the grace time"


@pytest.mark.parametrize("status", ["failed", "crashed", "missed"])
def test_a_last_run_that_did_not_succeed_is_unhealthy(settings: Settings, store: Store, status: str) -> None:
    configure(settings)
    add_run(store, "succeeded", hours_ago=26)
    run_id = add_run(store, status, hours_ago=2)
    code, body = health(settings)
    assert code == 1
    assert body["claim_edits"]["reason"] == f"last run {run_id} {status}: {status} for the test"


def test_a_run_left_running_by_a_dead_process_counts_as_crashed(settings: Settings, store: Store) -> None:
    configure(settings)
    add_run(store, "succeeded", hours_ago=3)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    add_run(store, "running", hours_ago=1, pid=int(gone.stdout))
    code, body = health(settings)
    assert code == 1 and "crashed: still marked running but its process" in body["claim_edits"]["reason"]


def test_an_overdue_bot_is_unhealthy_with_the_interval_from_config_or_the_schedule(settings: Settings,
                                                                                    store: Store) -> None:
    configure(settings)
    add_run(store, "succeeded", hours_ago=50)
    code, body = health(settings)
    assert code == 1 and body["claim_edits"]["reason"].startswith("overdue: last run started")
    assert "expected at least every 48.25 h" in body["claim_edits"]["reason"]

    configure(settings, "expected_interval_hours = 74")
    assert health(settings)[0] == 0

    configure(settings, schedule="0 6 * * 1-5")  # Friday to Monday is the longest gap: 72 h
    code, body = health(settings)
    assert code == 0 and body["claim_edits"]["expected_interval_hours"] == 144.25


def test_failures_or_exceptions_over_the_configured_limits_are_unhealthy(settings: Settings, store: Store) -> None:
    configure(settings, "max_failed = 2\nmax_exception_ratio = 0.5")
    add_run(store, "succeeded", hours_ago=1, failed=2, exceptions=5)
    assert health(settings)[0] == 0, "at the limits is still healthy"
    add_run(store, "succeeded", hours_ago=0.5, failed=3, exceptions=6)
    code, body = health(settings)
    assert code == 1
    assert body["claim_edits"]["reasons"] == ["3 failed items in the last run (limit 2)",
                                              "6 of 10 items were exceptions (limit 50%)"]


def test_the_text_output_names_each_bot(settings: Settings, store: Store) -> None:
    configure(settings)
    add_run(store, "failed", hours_ago=1)
    result = runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), "health"])
    assert result.exit_code == 1 and result.stdout.startswith("FAIL claim_edits: last run")
