"""Billing setup faults fail the run before any update is touched; billing going away mid-run carries
the updates over and the run ends ``degraded``. No row reaches the workbook either way."""

from __future__ import annotations

from typing import Any

import pytest

from bots.core.runner import RunResult, run_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.status_sync import create_bot
from mock_portals import MockPortals
from outage_helpers import outage_after_preflight
from status_sync.sync_helpers import billing_env, load_sample, queue, update

pytestmark = pytest.mark.browser

CLAIMS = ["CLM-1001", "CLM-1002", "CLM-1003"]


def run_once(settings: Settings, store: Store, bot: Any = None) -> RunResult:
    return run_bot(bot or create_bot(settings), settings, store)


def queued(store: Store) -> None:
    load_sample(store)
    queue(store, [update(c, "Paid") for c in CLAIMS])


def untouched(store: Store) -> None:
    rows = store.work_items("status_sync")
    assert len(rows) == len(CLAIMS)
    assert all((r["state"], r["attempts"]) == ("new", 0) for r in rows), rows


def no_rows(store: Store) -> None:
    assert store.exception_rows("status_sync") == []


def done_next_time(settings: Settings, store: Store) -> None:
    result = run_once(settings, store)
    assert result.status == "succeeded" and result.counts["done"] == len(CLAIMS), result.message


def test_no_billing_credentials_fail_the_run_naming_the_variables(
        settings: Settings, store: Store, env: MockPortals, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTS_BILLING_PASSWORD")
    queued(store)
    result = run_once(settings, store)
    assert result.status == "failed" and "BOTS_BILLING_PASSWORD" in result.message
    untouched(store)
    no_rows(store)
    billing_env(monkeypatch, env.url)
    done_next_time(settings, store)


def test_a_refused_billing_sign_in_fails_the_run_after_one_try(
        settings: Settings, store: Store, portals: MockPortals, monkeypatch: pytest.MonkeyPatch) -> None:
    billing_env(monkeypatch, portals.url, password="wrong-password")
    queued(store)
    result = run_once(settings, store)
    assert result.status == "failed" and "sign-in refused" in result.message
    assert "BOTS_BILLING_PASSWORD" in result.message and "wrong-password" not in result.message
    assert portals.stats["login_failures"]["billing"] == 1
    untouched(store)
    no_rows(store)
    billing_env(monkeypatch, portals.url)
    done_next_time(settings, store)


def test_a_refused_billing_sign_in_is_not_tried_again_by_later_runs_until_the_password_changes(
        settings: Settings, store: Store, portals: MockPortals, monkeypatch: pytest.MonkeyPatch) -> None:
    billing_env(monkeypatch, portals.url, password="wrong-password")
    queued(store)
    for _ in range(6):  # the mock billing app locks the account at the 5th failure
        result = run_once(settings, store)
        assert result.status == "failed", result.message
    assert "not tried again" in result.message and "bots signin clear billing" in result.message
    assert portals.stats["login_failures"]["billing"] == 1 and portals.stats["lockouts"]["billing"] == 0
    (block,) = store.signin_blocks()
    assert (block["site"], block["bot"], block["held_runs"]) == ("billing", "status_sync", 5)
    untouched(store)
    no_rows(store)
    billing_env(monkeypatch, portals.url)
    done_next_time(settings, store)
    assert store.signin_blocks() == []


def test_billing_going_away_mid_run_carries_the_updates_over_and_degrades_the_run(
        settings: Settings, store: Store, env: MockPortals, monkeypatch: pytest.MonkeyPatch) -> None:
    queued(store)
    with MockPortals() as billing_only:
        billing_env(monkeypatch, billing_only.url)
        # signed in, then billing goes away before the first update
        result = run_once(settings, store, outage_after_preflight(create_bot(settings), billing_only))
    assert result.status == "degraded" and "site outage: billing" in result.message, result.message
    assert result.counts["retried"] == len(CLAIMS) and result.counts["failed"] == 0
    untouched(store)
    no_rows(store)
    billing_env(monkeypatch, env.url)
    done_next_time(settings, store)
