"""Alerts reach a real (local) webhook through apprise: once per incident, never with PHI."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bots.core import alerts
from bots.core.logging import register_secret
from bots.core.metrics import TEXTFILE_NAME
from bots.core.runner import RunContext, run_bot
from bots.core.scheduler.job import after_run
from bots.core.settings import Settings
from bots.core.store import RunStatus, Store, WorkItemSpec
from bots.core.worklist import load_worklist
from alert_helpers import Receiver
from canaries import CANARY_DOB, CANARY_MEMBER, CANARY_NAME, CANARY_PASSWORD, log_text
from worklist_helpers import GOOD, write_csv
from fake_bots import CountingBot


@pytest.fixture
def alerting(settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Alerts to the receiver through BOTS_ALERT_URLS; only claim_edits is scheduled, so health is its health."""
    monkeypatch.setenv("BOTS_ALERT_URLS", receiver.url)
    for bot in ("payer_portal", "status_sync"):
        settings.config.bots[bot].enabled = False
    return settings


class SignInRefusedBot(CountingBot):
    """Items for canary claims; the session fails, quoting the (registered) robot password."""

    def enqueue(self, run: RunContext) -> int:
        return run.store.enqueue(self.name, [WorkItemSpec(reference=f"acme:CLM-C{i}", claim_key=f"acme:CLM-C{i}")
                                             for i in (1, 2)])

    def session(self, run: RunContext) -> Any:
        raise RuntimeError(f"sign-in refused for robot with password {CANARY_PASSWORD}")


def _load_canary_claims(tmp_path: Path, store: Store) -> None:
    canary = {**GOOD, "patient_name": CANARY_NAME, "member_id": CANARY_MEMBER, "patient_dob": CANARY_DOB}
    load_worklist(store, write_csv(tmp_path / "wl.csv", [{**canary, "claim_id": "CLM-C1"},
                                                          {**canary, "claim_id": "CLM-C2"}]))


def test_a_failed_run_alerts_exactly_once_without_phi(tmp_path: Path, alerting: Settings, store: Store,
                                                      receiver: Receiver) -> None:
    register_secret(CANARY_PASSWORD)
    _load_canary_claims(tmp_path, store)
    result = run_bot(SignInRefusedBot(), alerting, store, write_workbook=False)
    assert result.status == RunStatus.FAILED

    first = alerts.check(alerting, store)
    again = alerts.check(alerting, store)  # the same incident, evaluated again

    assert len(receiver.bodies) == 1, receiver.bodies
    assert again == []
    body = receiver.bodies[0]
    text = json.dumps(body)
    assert result.run_id in body["message"] and "failed" in body["message"] and "claim_edits" in body["message"]
    assert "health CRITICAL" in body["message"], "the health change goes out in the same message"
    assert len(first) == 2
    for canary in (CANARY_NAME, CANARY_MEMBER, CANARY_DOB, CANARY_PASSWORD):
        assert canary not in text, f"{canary!r} reached an alert"
    assert "[redacted]" in body["message"], "the password in the run message was masked"
    assert receiver.url.split("//")[1] not in log_text(alerting), "destination URLs are never logged"


def test_health_alerts_on_change_only_and_on_recovery(alerting: Settings, store: Store, receiver: Receiver) -> None:
    run_bot(SignInRefusedBot(), alerting, store, write_workbook=False)
    alerts.check(alerting, store)
    store.record_run_event("claim_edits", RunStatus.MISSED, "scheduled run at 06:00 was missed")
    alerts.check(alerting, store)  # a new incident (missed run); health is still not OK: no health line
    assert len(receiver.bodies) == 2
    assert "missed" in receiver.bodies[1]["message"] and "health" not in receiver.bodies[1]["message"]

    assert run_bot(CountingBot(2), alerting, store, write_workbook=False).ok
    alerts.check(alerting, store)
    alerts.check(alerting, store)
    assert len(receiver.bodies) == 3
    assert "health recovered" in receiver.bodies[2]["message"]


def test_concurrent_checks_send_one_alert(alerting: Settings, store: Store, receiver: Receiver) -> None:
    alerting.config.alerts.health = False
    run_bot(SignInRefusedBot(), alerting, store, write_workbook=False)
    stores = [Store(alerting.db_url) for _ in range(4)]  # as separate processes would
    threads = [threading.Thread(target=alerts.check, args=(alerting, s)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert len(receiver.bodies) == 1


def test_runs_outside_the_lookback_and_other_statuses_are_not_alerted(alerting: Settings, store: Store,
                                                                     receiver: Receiver) -> None:
    alerting.config.alerts.health = False
    alerting.config.alerts.statuses = ["missed"]
    run_bot(SignInRefusedBot(), alerting, store, write_workbook=False)  # failed: not in statuses
    assert alerts.check(alerting, store) == [] and receiver.bodies == []


def test_an_unreachable_destination_never_breaks_the_run(alerting: Settings, store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_port
    closed.server_close()  # nothing listens there now
    monkeypatch.setenv("BOTS_ALERT_URLS", f"json://127.0.0.1:{port}/hook")
    alerting.config.metrics.textfile_dir = "metrics"
    run_bot(SignInRefusedBot(), alerting, store, write_workbook=False)
    after_run(alerting, store)  # what the scheduled job does after each run
    assert (alerting.home / "metrics" / TEXTFILE_NAME).is_file(), "the metrics were still written"
    assert '"alert_send_failed"' in log_text(alerting)


def test_no_destination_means_no_alert_and_no_marks(settings: Settings, store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTS_ALERT_URLS", raising=False)
    run_bot(SignInRefusedBot(), settings, store, write_workbook=False)
    assert alerts.check(settings, store) == []
    assert store.get_meta(alerts.HEALTH_KEY) is None, "a later configured destination still hears of it"


def test_a_run_by_hand_that_fails_alerts_once_from_the_cli(tmp_path: Path, alerting: Settings, store: Store,
                                                          receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """``bots run`` outside the scheduler is watched too: a failed run alerts when it ends."""
    from typer.testing import CliRunner

    from bots.cli import app
    from config_helpers import edit_toml

    edit_toml(alerting.config_dir / "rules" / "claim_edits.toml",
              lambda doc: doc["rules"]["CODE-DX-POINTER"]["params"].update(max_pointers="four"))
    monkeypatch.setenv("BOTS_ALERT_URLS", receiver.url)
    cli = ["--home", str(alerting.home), "--config-dir", str(alerting.config_dir), "run", "claim_edits"]
    first = CliRunner().invoke(app, cli)
    assert first.exit_code == 1, first.output
    assert len(receiver.bodies) == 1 and "claim_edits run" in receiver.bodies[0]["message"]
    assert "failed" in receiver.bodies[0]["message"]
    CliRunner().invoke(app, ["--home", str(alerting.home), "--config-dir", str(alerting.config_dir), "alerts", "check"])
    assert len(receiver.bodies) == 1, "the same incident is not sent again"
