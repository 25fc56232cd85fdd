"""Refused sign-ins remembered in the store (bots.core.store.signins) and what IT sees of them:
``bots health`` CRITICAL naming the site and the clear command, one alert per block, runs held back
by a block not alerted again, the ``rcm_bots_signin_blocked`` metric, and ``bots signin``.
(The runs themselves, against the mock portal: tests/payer_portal/test_payer_portal_signin_block.py.)"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from prometheus_client import generate_latest
from typer.testing import CliRunner

from alert_helpers import Receiver
from bots.cli import app
from bots.core import alerts
from bots.core.metrics import registry_for
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store

SECRET = ["robot-user", "hunter2-secret"]


def configure(settings: Settings) -> None:
    """Nothing scheduled: a bot is judged only for its runs and its blocks."""
    (settings.config_dir / "bots.toml").write_text('timezone = "UTC"\n')


def block(store: Store, site: str = "acme", credential: list[str] = SECRET, run_id: str = "run-1") -> bool:
    return store.record_signin_refused(site=site, fingerprint=store.credential_fingerprint(credential),
                                       bot="payer_portal", run_id=run_id, message="Acme refused the username or "
                                       "password (check BOTS_PAYER_ACME_USERNAME and BOTS_PAYER_ACME_PASSWORD)",
                                       origin="http://127.0.0.1:8080",
                                       credential_envs=["BOTS_PAYER_ACME_USERNAME", "BOTS_PAYER_ACME_PASSWORD"])


def invoke(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), *args])


def test_the_store_keeps_a_fingerprint_never_the_credential(settings: Settings, store: Store) -> None:
    assert block(store) is True and block(store) is False, "the same refusal twice is one block"
    fingerprint = store.credential_fingerprint(SECRET)
    assert fingerprint == store.credential_fingerprint(SECRET) != store.credential_fingerprint([SECRET[0], "x"])
    assert store.credential_fingerprint(["a", "bc"]) != store.credential_fingerprint(["ab", "c"])
    raw = b"".join(p.read_bytes() for p in settings.home.rglob("*.db*"))
    assert b"hunter2" not in raw and b"robot-user" not in raw
    assert "fingerprint" not in store.signin_blocks()[0], "callers get no fingerprint either"


def test_the_same_credential_is_held_and_a_changed_one_supersedes_the_block(store: Store) -> None:
    block(store)
    held = store.signin_block_for("acme", store.credential_fingerprint(SECRET), bot="payer_portal", run_id="run-2")
    assert held is not None and held["run_id"] == "run-1"
    assert store.signin_block_for("beacon", "anything", bot="payer_portal", run_id="run-2") is None
    changed = store.credential_fingerprint([SECRET[0], "new-password"])
    assert store.signin_block_for("acme", changed, bot="payer_portal", run_id="run-3") is None
    assert store.signin_blocks() == []
    (old,) = store.signin_blocks(active=False)
    assert (old["held_runs"], old["clear_reason"], old["cleared_by"]) == (1, "credential_changed", "credential changed")
    assert [r["action"] for r in store.audit_records()] == ["signin_blocked", "signin_held", "signin_block_superseded"]


def test_a_database_from_before_the_table_gains_it_and_health_reads_an_old_one(settings: Settings) -> None:
    configure(settings)
    Store(settings.db_url).close()
    with sqlite3.connect(settings.home / "bots.db") as conn:
        conn.execute("DROP TABLE signin_blocks")
    assert Store(settings.db_url, create=False).signin_blocks() == [], "read-only: no table is no block"
    assert invoke(settings, "health").exit_code == 0
    store = Store(settings.db_url)
    assert block(store) and len(store.signin_blocks()) == 1
    store.close()


def test_health_is_critical_while_a_block_stands_and_names_the_site_and_the_clear_command(
        settings: Settings, store: Store) -> None:
    configure(settings)
    block(store)
    out = invoke(settings, "health", "--json")
    assert out.exit_code == 2, out.output
    (bot,) = json.loads(out.stdout)["bots"]
    assert bot["bot"] == "payer_portal" and bot["status"] == "CRITICAL"
    (reason,) = bot["reasons"]
    assert "sign-in to acme (http://127.0.0.1:8080) blocked" in reason and "bots signin clear acme" in reason
    assert "BOTS_PAYER_ACME_PASSWORD" in reason

    cleared = invoke(settings, "signin", "clear", "acme", "--by", "it-desk")
    assert cleared.exit_code == 0, cleared.output
    assert invoke(settings, "health").exit_code == 0
    (record,) = store.audit_records(action="signin_block_cleared")
    assert json.loads(record["detail"]) == {"site": "acme", "block": 1, "by": "it-desk"}


def test_signin_status_lists_blocks_and_clear_of_an_unblocked_site_says_which_are(
        settings: Settings, store: Store) -> None:
    configure(settings)
    assert invoke(settings, "signin", "status").exit_code == 0
    block(store)
    status = invoke(settings, "signin", "status", "--json")
    assert status.exit_code == 1
    assert [json.loads(line)["site"] for line in status.stdout.splitlines()] == ["acme"]
    wrong = invoke(settings, "signin", "clear", "beacon")
    assert wrong.exit_code == 1 and "no sign-in to beacon is blocked" in wrong.output and "acme" in wrong.output
    assert store.signin_blocks() != []
    invoke(settings, "signin", "clear", "acme")
    assert "acme" in invoke(settings, "signin", "status", "--all").output


def test_a_block_alerts_once_and_the_runs_it_holds_back_do_not_alert_again(
        settings: Settings, store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(settings)
    settings.config.alerts.health = False
    monkeypatch.setenv("BOTS_ALERT_URLS", receiver.url)
    block(store)
    first = alerts.check(settings, store)
    assert len(first) == 1 and "sign-in to acme" in first[0] and "bots signin clear acme" in first[0]
    assert "hunter2" not in json.dumps(receiver.bodies)

    def failed_run(actions: list[str]) -> str:
        run_id = store.record_run_event("payer_portal", "failed", "setup: …", trigger="manual")
        with store.begin() as conn:
            store.append_audit(conn, [AuditEntry(action=a, result="x", run_id=run_id, bot="payer_portal")
                                      for a in actions])
        return run_id

    failed_run(["signin_held", "preflight_failed"])
    other = failed_run(["signin_held", "preflight_failed", "preflight_failed"])  # and a second problem
    (line,) = alerts.check(settings, store)
    assert other in line
    assert alerts.check(settings, store) == []
    assert len(receiver.bodies) == 2


def test_the_metric_is_1_while_blocked_and_0_once_cleared(store: Store) -> None:
    def value() -> str:
        text = generate_latest(registry_for(store)).decode()
        return [line for line in text.splitlines() if line.startswith("rcm_bots_signin_blocked{")]

    assert value() == []
    block(store)
    assert value() == ['rcm_bots_signin_blocked{bot="payer_portal",site="acme"} 1.0']
    store.clear_signin_block("acme", by="it-desk")
    assert value() == ['rcm_bots_signin_blocked{bot="payer_portal",site="acme"} 0.0']


def test_only_one_block_per_site_is_active_even_if_two_processes_race(store: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    from bots.core.store.schema import signin_blocks

    block(store)
    with pytest.raises(IntegrityError), store.begin() as conn:
        conn.execute(signin_blocks.insert().values(site="acme", bot="payer_portal", fingerprint="x",
                                                   blocked_at="now"))
    store.clear_signin_block("acme", by="it-desk")
    assert block(store) is True, "a cleared block leaves room for a new one"
