"""Billing trouble: 503s, session expiry, a layout change, maintenance, CAPTCHA (a refused sign-in: test_status_sync_setup).
Every update is applied exactly once, and every item ends in exactly one terminal state."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.workbook import sync_workbook
from mock_portals import MockPortals
from status_sync.sync_helpers import (
    billing, exception_rows, items, load_sample, queue, reopen_all, run, run_until_settled, set_retry, update,
    use_v2_selectors,
)
from workbook_helpers import Finding, coder_edit, report, rows_by_id, stored

pytestmark = pytest.mark.browser

TARGETS = {f"CLM-{1001 + n}": status for n, status in enumerate(
    ["Paid", "Denied", "Pending", "Accepted", "Info requested"])}


def test_with_503s_and_session_expiry_every_update_is_applied_exactly_once(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    settings = set_retry(settings, attempts=5)
    queue(store, [update(claim, status) for claim, status in TARGETS.items()])
    report(store, "run-1", [Finding("CLM-1020")])
    sync_workbook(settings, store)
    coder_edit(settings.workbook_path, "Claim Edits", {ex_id: {
        "Status": "Resolved", "Resolution": "Corrected claim", "Resolution Note": "units fixed", "Resolved By": "jlee"}
        for ex_id in stored(store)})
    env.set_faults("error_rate=0.2,expire_after=10,seed=3")
    run_until_settled(settings, store, max_runs=3)
    stats = env.stats
    assert stats["errors_503"]["billing"] > 3 and stats["sessions_expired"]["billing"] > 0

    states = items(store)
    assert len(states) == 6 and {i["state"] for i in states.values()} == {"done"}
    wanted = {**TARGETS, "CLM-1020": "Ready to rebill"}
    queue_now = billing(env)
    for claim, status in wanted.items():  # exactly one save per update, whatever was retried
        assert [h["status"] for h in queue_now[claim].get("history") or []] == [status], claim
    assert all(r["Bot Status"] == "Synced" for r in rows_by_id(settings.workbook_path).values())
    assert exception_rows(store) == [] and store.verify_audit() == []


def test_v2_layout_fails_to_bot_failures_with_a_screenshot_then_passes_after_the_config_change(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    settings = set_retry(settings, attempts=1, max_attempts=1)
    env.set_faults("layout=v2")
    load_sample(store)
    queue(store, [update("CLM-1001", "Paid"), update("CLM-1033", "Pending", payer="beacon")])
    result = run(settings, store)
    assert result.counts["failed"] == 2
    failures = exception_rows(store)
    assert {r["queue"] for r in failures} == {"Bot Failures"} and {r["claim_id"] for r in failures} == {
        "CLM-1001", "CLM-1033"}
    for row in failures:
        assert "SelectorMissing" in row["reason"] and "config/billing.toml" in row["reason"]
        shot = Path(row["evidence_file"])
        assert shot.read_bytes().startswith(b"\x89PNG") and stat.S_IMODE(os.stat(shot).st_mode) == 0o600

    use_v2_selectors(config_dir)
    reopen_all(store)  # a coder's "Retry by bot"
    result = run(settings, store)
    assert result.counts["done"] == 2 and result.counts["failed"] == 0
    assert billing(env)["CLM-1001"]["status"] == "Paid" and billing(env)["CLM-1033"]["status"] == "Pending"


def test_maintenance_defers_the_updates_to_the_next_run_which_does_them(
        settings: Settings, store: Store, env: MockPortals) -> None:
    env.set_faults("maintenance=billing")
    queue(store, [update("CLM-1001", "Paid"), update("CLM-1002", "Paid"), update("CLM-1003", "Paid")])
    result = run(settings, store)
    assert result.counts["deferred"] == 3 and result.counts["failed"] == 0
    assert env.stats["maintenance_503"]["billing"] <= 2  # paused after the first maintenance page
    assert all(i["state"] == "new" and i["attempts"] == 0 for i in items(store).values())
    env.set_faults("")
    assert run(settings, store).counts["done"] == 3
    assert {billing(env)[c]["status"] for c in ("CLM-1001", "CLM-1002", "CLM-1003")} == {"Paid"}


def test_a_captcha_goes_to_bot_failures_with_a_screenshot_without_retrying(
        settings: Settings, store: Store, env: MockPortals) -> None:
    env.set_faults("captcha=billing")
    load_sample(store)
    queue(store, [update("CLM-1001", "Paid")])
    result = run(settings, store)
    assert result.counts["failed"] == 1 and result.counts["retries"] == 0
    (row,) = exception_rows(store)
    assert row["queue"] == "Bot Failures" and "CaptchaChallenge" in row["reason"] and row["claim_id"] == "CLM-1001"
    assert Path(row["evidence_file"]).read_bytes().startswith(b"\x89PNG")
