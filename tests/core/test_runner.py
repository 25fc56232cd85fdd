"""The run loop: outcomes recorded once, crashes recovered, stops clean."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from bots.cli import app
from bots.core.settings import Settings
from bots.core.store import ItemState, Store
from bots.core.runner import run_bot
from fake_bots import CountingBot
from store_helpers import set_columns

TESTS = Path(__file__).resolve().parents[1]  # tests/: fake_bots and the helpers

KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from bots.core.logging import configure_logging
from typer.testing import CliRunner

from bots.cli import app
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.runner import run_bot
from fake_bots import CountingBot
s = Settings(home=Path({home!r}), config_dir=Path({config!r}), _env_file=None)
configure_logging(s.logs_dir, console=False)
s.config.bots["claim_edits"].batch_size = 2  # commit often so the kill lands between commits
run_bot(CountingBot(100, delay=0.05, trace={trace!r}), s, Store(s.db_url), write_workbook=False)
"""


def _states(db: Path) -> dict[str, str]:
    try:
        with sqlite3.connect(db) as c:
            return dict(c.execute("select reference, state from work_items"))
    except sqlite3.OperationalError:  # the subprocess has not created the schema yet
        return {}


def test_sigkill_mid_run_then_rerun_finishes_every_item_exactly_once(settings: Settings, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    script = KILL_SCRIPT.format(tests=str(TESTS), home=str(settings.home), config=str(settings.config_dir),
                                trace=str(trace))
    proc = subprocess.Popen([sys.executable, "-c", script])
    db = settings.home / "bots.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists() and sum(1 for s in _states(db).values() if s == "done") >= 10:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _states(db)
    done_before = {r for r, s in first.items() if s == "done"}
    assert 10 <= len(done_before) < 100, "the kill should land mid-run"

    store = Store(settings.db_url)
    rerun = CountingBot(100)
    result = run_bot(rerun, settings, store, write_workbook=False)

    final = _states(db)
    assert len(final) == 100
    assert set(final.values()) == {"done"}, "every item ends in exactly one terminal state"
    assert not (set(rerun.calls) & done_before), "nothing completed before the kill is processed again"
    assert all(n == 1 for n in rerun.calls.values())
    outcomes = [r["item_ref"] for r in store.audit_records(action="item_outcome")]
    assert sorted(outcomes) == sorted(final), "each item's outcome is recorded exactly once"
    runs = {r["status"] for r in store.list_runs()}
    assert runs == {"crashed", "succeeded"}, "the killed run is marked crashed in run history"
    assert result.counts["items"] == 100 - len(done_before)
    assert store.verify_audit() == []


def test_stop_event_finishes_item_in_hand_and_leaves_rest_resumable(settings: Settings, store: Store) -> None:
    stop = threading.Event()
    bot = CountingBot(40, delay=0.02)
    original = bot.process

    def process(item, ctx):  # type: ignore[no-untyped-def]
        out = original(item, ctx)
        if len(bot.calls) == 5:
            stop.set()
        return out

    bot.process = process  # type: ignore[method-assign]
    result = run_bot(bot, settings, store, stop=stop, write_workbook=False)
    assert result.status == "interrupted"
    counts = store.item_counts("claim_edits")
    assert counts.get("done") == 5
    assert counts.get("new") == 35, "unstarted items go back to new, not lost or failed"
    assert "in_progress" not in counts
    again = run_bot(CountingBot(40), settings, store, write_workbook=False)
    assert again.ok and store.item_counts("claim_edits") == {"done": 40}


def test_expired_lease_is_picked_up_again(settings: Settings, store: Store) -> None:
    bot = CountingBot(3)
    run_bot(bot, settings, store, write_workbook=False)
    # Simulate a crash on another machine: an item stuck in_progress with an old lease.
    set_columns(store, "work_items", {"reference": "item-001"},
                state=ItemState.IN_PROGRESS, lease_owner="run-elsewhere", lease_expires="2000-01-01T00:00:00")
    assert store.recover_abandoned("claim_edits") == 1
    assert store.item_counts("claim_edits") == {"done": 2, "abandoned": 1}
    again = CountingBot(3)
    run_bot(again, settings, store, write_workbook=False)
    assert again.calls == {"item-001": 1}
    assert store.item_counts("claim_edits") == {"done": 3}


def test_concurrent_workers_never_take_the_same_item(settings: Settings, store: Store) -> None:
    s = settings.with_bot("claim_edits", concurrency=4)
    assert s.config.bot("claim_edits").concurrency == 4
    bot = CountingBot(80, delay=0.005)
    s.config.bots["claim_edits"].batch_size = 3
    result = run_bot(bot, s, store, write_workbook=False)
    assert result.ok
    assert sorted(bot.calls) == [f"item-{i:03d}" for i in range(80)]
    assert set(bot.calls.values()) == {1}


def test_business_exception_routes_to_store_and_failures_after_max_attempts(settings: Settings, store: Store) -> None:
    def bot() -> CountingBot:
        return CountingBot(6, fail={2}, business={4})

    settings.config.retry.attempts = 2
    settings.config.retry.wait_initial = 0.0
    settings.config.retry.jitter = 0.0
    for _ in range(3):  # max_attempts = 3 runs
        run_bot(bot(), settings, store, write_workbook=False)
    items = {i["reference"]: i["state"] for i in store.work_items()}
    rows = [(r["queue"], r["item_ref"], r["reason"]) for r in store.exception_rows()]
    assert items["item-002"] == "failed"
    assert items["item-004"] == "exception"
    assert sorted((q, r) for q, r, _ in rows) == [("Bot Failures", "item-002"), ("Claim Edits", "item-004")]
    failure = next(reason for q, _, reason in rows if q == "Bot Failures")
    assert "PortalTimeout" in failure and "3 attempt" in failure
    runs = store.list_runs("claim_edits")
    assert sum(r["retries"] for r in runs) == 3, "one in-process retry per run for the faulting item"


def test_a_broken_commit_fails_the_run_and_returns_its_items_to_the_queue(settings: Settings, store: Store,
                                                                          monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "append_audit", broken)
    result = run_bot(CountingBot(5), settings, store, write_workbook=False)
    assert result.status == "failed" and "disk full" in result.message
    assert store.item_counts("claim_edits") == {"abandoned": 5}, "nothing stays in_progress, nothing is lost"
    monkeypatch.undo()
    again = run_bot(CountingBot(5), settings, store, write_workbook=False)
    assert again.ok and store.item_counts("claim_edits") == {"done": 5}


def test_crashed_run_records_the_items_it_committed(settings: Settings, tmp_path: Path) -> None:
    # issue 12: a run killed after committing work showed 0 items in `bots runs`.
    script = KILL_SCRIPT.format(tests=str(TESTS), home=str(settings.home), config=str(settings.config_dir),
                                trace=str(tmp_path / "trace.txt"))
    proc = subprocess.Popen([sys.executable, "-c", script])
    db = settings.home / "bots.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists() and sum(1 for s in _states(db).values() if s == "done") >= 8:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = sum(1 for s in _states(db).values() if s == "done")
    assert 8 <= done_before < 100, "the kill should land mid-run"

    store = Store(settings.db_url)
    run_bot(CountingBot(100), settings, store, write_workbook=False)  # recovery marks the dead run crashed
    crashed = [r for r in store.list_runs() if r["status"] == "crashed"]
    assert len(crashed) == 1
    c = crashed[0]
    assert c["done"] == done_before, "the crashed run counts what it committed"
    assert c["exceptions"] == 0 and c["failed"] == 0
    assert c["items"] >= done_before and c["items"] - done_before == c["carried_over"]
    out = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                   "runs", "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines() if line.strip()]
    shown = [r for r in rows if r.get("status") == "crashed"]
    assert shown and shown[0]["done"] == done_before


def test_retry_by_bot_takes_effect_in_the_run_that_reads_it(settings: Settings, store: Store) -> None:
    """A coder's "Retry by bot" saved in the workbook is read at the start of the next run, which
    does the item: one run, not one to read the edit and another to act on it."""
    from workbook_helpers import coder_edit, rows_by_id, stored

    settings.config.retry.attempts = 1
    settings.config.bots["claim_edits"].max_attempts = 1
    run_bot(CountingBot(3, fail={1}), settings, store)
    failure = next(ex_id for ex_id, row in stored(store).items() if row["queue"] == "Bot Failures")
    coder_edit(settings.workbook_path, "Bot Failures", {failure: {
        "Status": "Resolved", "Resolution": "Retry by bot", "Resolution Note": "portal back up",
        "Resolved By": "it-desk"}})

    again = CountingBot(3)
    result = run_bot(again, settings, store)
    assert again.calls == {"item-001": 1}
    assert result.counts["done"] == 1
    assert store.item_counts("claim_edits") == {"done": 3}
    assert stored(store)[failure]["bot_status"] == "Cleared"
    assert rows_by_id(settings.workbook_path)[failure]["Bot Status"] == "Cleared"
