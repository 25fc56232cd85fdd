"""Helpers for the status_sync tests: credentials in the environment, edits to a test copy of the
configuration, queueing updates, running the bot, and reading the store and the billing app."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from config_helpers import edit_toml, quick_retries
from bots.core.runner import RunResult, StatusUpdate, run_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.worklist import load_worklist
from bots.status_sync import create_bot
from mock_portals import MockPortals

REPO = Path(__file__).resolve().parents[2]
SAMPLE_WORKLIST = REPO / "mock_portals" / "data" / "sample_worklist.csv"
BOT = "status_sync"
BILLING_PASSWORD = "billing-robot-pass"
PP_RUN = "20261105T063000-payer_portal-a1b2c3"

# The billing app's v2 layout, from mock_portals/README.md: the only change an operator makes
# when billing switches layouts is this block in config/billing.toml.
V2_SELECTORS = """
[selectors.login]
form = "#auth-form"
username = "#login-user"
password = "#login-pass"
submit = "#btn-sign-in"
error = ".login-msg--error"
locked = ".login-msg--locked"

[selectors.nav]
user = ".whoami"

[selectors.edit]
form = "#status-form"
claim_id = "#wl-claim"
current_status = "#status-now"
status = "#new-status"
status_option = "#new-status option"
note = "#status-note"
save = "#btn-save"
saved = ".toast--saved"
error = ".toast--error"
"""


def billing_env(monkeypatch: pytest.MonkeyPatch, url: str, *, password: str = BILLING_PASSWORD) -> None:
    """The robot's billing URL and credentials, as an operator sets them (environment)."""
    monkeypatch.setenv("BOTS_BILLING_URL", f"{url}/billing")
    monkeypatch.setenv("BOTS_BILLING_USERNAME", "robot")
    monkeypatch.setenv("BOTS_BILLING_PASSWORD", password)


def set_retry(settings: Settings, *, attempts: int, max_attempts: int | None = None) -> Settings:
    """``settings`` with quick in-process retries for this bot (bots.toml is not touched)."""
    return quick_retries(settings, BOT, attempts=attempts, max_attempts=max_attempts)


def use_v2_selectors(config_dir: Path) -> None:
    """The billing app's v2 layout: its login, nav and edit selector tables replace the shipped ones."""
    edit_toml(config_dir / "billing.toml", lambda doc: doc["selectors"].update(tomllib.loads(V2_SELECTORS)["selectors"]))


def use_mode(config_dir: Path, mode: str) -> None:
    """How the bot submits the claim form: ``request`` (the shipped default) or ``ui`` (a tab)."""
    edit_toml(config_dir / "billing.toml", lambda doc: doc.update(mode=mode))


def update(claim_id: str, status: str, word: str | None = None, *, payer: str = "acme", run_id: str = PP_RUN,
           exception_id: str | None = None) -> StatusUpdate:
    """A status update as payer_portal queues it."""
    note = f"Acme Health Plan portal 2026-11-05: {word or status} (X12 F1)"
    return StatusUpdate(claim_id=claim_id, payer_id=payer, status=status, note=note, source_bot="payer_portal",
                        run_id=run_id, exception_id=exception_id)


def load_sample(store: Store) -> None:
    """The sample worklist's claims: the claims the other bots queue updates about."""
    load_worklist(store, SAMPLE_WORKLIST)


def queue(store: Store, updates: list[StatusUpdate]) -> None:
    with store.begin() as conn:
        store.apply_intents(conn, updates)


def run(settings: Settings, store: Store, only: list[str] | None = None) -> RunResult:
    """One run of a fresh bot, as ``bots run status_sync [--claim ...]`` does it."""
    bot = create_bot(settings)
    refs = bot.references_for_claims(store, set(only)) if only is not None else None
    result = run_bot(bot, settings, store, only_refs=refs)
    assert result.status == "succeeded", result.message
    return result


def billing(portals: MockPortals) -> dict[str, dict[str, Any]]:
    """The billing queue by claim id, as ``GET /billing/api/queue`` returns it."""
    response = httpx.get(f"{portals.url}/billing/api/queue", timeout=10)
    response.raise_for_status()
    return {e["claim_id"]: e for e in response.json()["queue"]}


def items(store: Store) -> dict[str, dict[str, Any]]:
    return {r["reference"]: r for r in store.work_items(BOT)}


def claimable(store: Store) -> bool:
    return any(i["state"] in ("new", "abandoned") for i in items(store).values())


def run_until_settled(settings: Settings, store: Store, *, max_runs: int) -> int:
    """Run status_sync until no item is claimable (what the next scheduled runs would do); the runs taken.
    More than ``max_runs`` fails: items must settle within their attempts."""
    runs = 0
    while runs == 0 or claimable(store):
        run(settings, store)
        runs += 1
        assert runs <= max_runs, "items still claimable after max_attempts runs"
    return runs


def reopen_all(store: Store) -> None:
    with store.begin() as conn:
        store.reopen(BOT, list(items(store)), conn)


def exception_rows(store: Store, bot: str = BOT) -> list[dict[str, Any]]:
    return store.exception_rows(bot, bot_status="Open")


def audit_rows(store: Store, action: str) -> list[dict[str, Any]]:
    return store.audit_records(bot=BOT, action=action)
