"""Setup faults fail the run before any claim is touched, loudly and never as coder rows; a portal
that stops answering mid-run carries its claims over and the run ends ``degraded``.

Each case: the run (``bots run`` or ``run_bot``) ends as an operator should see it, no row reaches
the workbook (read back with openpyxl), the claims stay as they were (state and attempts), and the
next good run does them.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bots.cli.app import app
from bots.core.runner import RunResult, run_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.payer_portal import create_bot
from config_helpers import QUICK_RETRY, edit_toml
from mock_portals import MockPortals
from outage_helpers import outage_after_preflight
from payer_portal.portal_helpers import BEACON_SECRET, items, load_sample, robot_env, workbook_rows

pytestmark = pytest.mark.browser

ACME = ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]
BEACON = ["CLM-1033"]
CLAIMS = ACME + BEACON


def run_once(settings: Settings, store: Store, bot: Any = None) -> RunResult:
    bot = bot or create_bot(settings)
    return run_bot(bot, settings, store, only_refs=bot.references_for_claims(store, set(CLAIMS)))


def cli_run(settings: Settings) -> Any:
    args = ["--home", str(settings.home), "--config-dir", str(settings.config_dir), "run", "payer_portal"]
    for claim in CLAIMS:
        args += ["--claim", claim]
    return CliRunner().invoke(app, args)


def ours(store: Store) -> dict[str, dict[str, Any]]:
    """The run's items (enqueue adds every due claim; the run claims only the named ones), by claim id."""
    found = {k.split(":", 1)[1]: r for k, r in items(store).items()}
    return {c: found[c] for c in CLAIMS}


def untouched(store: Store) -> None:
    """Every claim of the run waits as it was enqueued: new, no attempt spent."""
    for claim, row in ours(store).items():
        assert (row["state"], row["attempts"]) == ("new", 0), claim


def no_rows(settings: Settings, store: Store) -> None:
    assert store.exception_rows("payer_portal") == []
    if settings.workbook_path.exists():
        assert all(rows == [] for rows in workbook_rows(settings).values())


def done_next_time(settings: Settings, store: Store) -> None:
    result = run_once(settings, store)
    assert result.status == "succeeded", result.message
    assert result.counts["items"] == len(CLAIMS)
    assert all(r["state"] in ("done", "exception") for r in ours(store).values())
    assert not [r for r in store.exception_rows("payer_portal") if r["queue"] == "Bot Failures"]


def preflight_audit(store: Store) -> list[dict[str, Any]]:
    return store.audit_records(bot="payer_portal", action="preflight_failed")


@pytest.fixture
def quick_cli(config_dir: Path) -> None:
    """``bots run`` reads bots.toml: quick in-process retries there too."""
    edit_toml(config_dir / "bots.toml", lambda doc: doc["retry"].update(QUICK_RETRY))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_credentials_fail_the_run_with_exit_1_naming_the_variables_and_touch_no_claim(
        settings: Settings, store: Store, env: MockPortals, monkeypatch: pytest.MonkeyPatch, quick_cli: None) -> None:
    monkeypatch.delenv("BOTS_PAYER_ACME_PASSWORD")
    load_sample(store)
    out = cli_run(settings)
    assert out.exit_code == 1, out.output
    assert "failed" in out.output and "BOTS_PAYER_ACME_PASSWORD" in out.output and "no item was touched" in out.output
    assert "acme-robot-pass" not in out.output and "beacon-robot-pass" not in out.output
    untouched(store)
    no_rows(settings, store)
    (record,) = preflight_audit(store)
    assert "BOTS_PAYER_ACME_PASSWORD" in record["detail"]
    assert env.stats["login_failures"]["acme"] == 0  # no sign-in was even tried without a password
    robot_env(monkeypatch, env.url)
    done_next_time(settings, store)


def test_a_totp_secret_the_library_rejects_fails_the_run_without_a_traceback_per_claim(
        settings: Settings, store: Store, env: MockPortals, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = "not base32 at all!"
    monkeypatch.setenv("BOTS_PAYER_BEACON_TOTP_SECRET", bad)
    load_sample(store)
    result = run_once(settings, store)
    assert result.status == "failed"
    assert "BOTS_PAYER_BEACON_TOTP_SECRET" in result.message and bad not in result.message
    assert result.counts["items"] == 0
    log = (settings.logs_dir / "bots.jsonl").read_text()
    assert "unexpected_error" not in log and bad not in log
    untouched(store)
    no_rows(settings, store)
    monkeypatch.setenv("BOTS_PAYER_BEACON_TOTP_SECRET", BEACON_SECRET)
    done_next_time(settings, store)


def test_a_closed_port_fails_the_run_naming_the_url_variable(
        settings: Settings, store: Store, env: MockPortals, monkeypatch: pytest.MonkeyPatch, quick_cli: None) -> None:
    monkeypatch.setenv("BOTS_PAYER_ACME_URL", f"http://127.0.0.1:{closed_port()}/acme")
    load_sample(store)
    out = cli_run(settings)
    assert out.exit_code == 1, out.output
    assert "BOTS_PAYER_ACME_URL" in out.output and "cannot reach" in out.output
    assert "retry next run 0" in out.output
    untouched(store)
    no_rows(settings, store)
    robot_env(monkeypatch, env.url)
    done_next_time(settings, store)


def test_a_refused_sign_in_fails_the_run_after_one_try_so_the_account_never_locks(
        settings: Settings, store: Store, portals: MockPortals, monkeypatch: pytest.MonkeyPatch) -> None:
    robot_env(monkeypatch, portals.url, acme_password="wrong-password")
    load_sample(store)
    result = run_once(settings, store)
    assert result.status == "failed"
    assert "sign-in refused" in result.message and "BOTS_PAYER_ACME_PASSWORD" in result.message
    assert "wrong-password" not in result.message
    assert portals.stats["login_failures"]["acme"] == 1 and portals.stats["lockouts"]["acme"] == 0
    untouched(store)
    no_rows(settings, store)
    robot_env(monkeypatch, portals.url)
    done_next_time(settings, store)


def test_a_portal_that_stops_answering_mid_run_is_an_outage_the_other_payer_finishes_and_the_run_degrades(
        settings: Settings, store: Store, env: MockPortals, monkeypatch: pytest.MonkeyPatch) -> None:
    load_sample(store)
    with MockPortals() as acme_only:
        monkeypatch.setenv("BOTS_PAYER_ACME_URL", f"{acme_only.url}/acme")
        # signed in to both portals, then acme goes away before the first lookup
        result = run_once(settings, store, outage_after_preflight(create_bot(settings), acme_only))
    assert result.status == "degraded", result.message
    assert "site outage: acme" in result.message and f"{len(ACME)} item(s) carried over" in result.message
    assert result.counts["retried"] == len(ACME) and result.counts["failed"] == 0
    found = ours(store)
    for claim in ACME:
        assert (found[claim]["state"], found[claim]["attempts"]) == ("new", 0), claim
    for claim in BEACON:
        assert found[claim]["state"] in ("done", "exception"), claim
    assert not [r for r in store.exception_rows("payer_portal") if r["queue"] == "Bot Failures"]
    assert not workbook_rows(settings).get("Bot Failures")
    (run,) = [r for r in store.list_runs("payer_portal") if r["run_id"] == result.run_id]
    assert run["carried_over"] == len(ACME)
    robot_env(monkeypatch, env.url)
    done_next_time(settings, store)
