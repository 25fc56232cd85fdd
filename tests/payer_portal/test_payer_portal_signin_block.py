"""A refused sign-in is remembered across runs, so a wrong password can never lock the payer account.

Through ``bots run`` against the mock portals (which lock an account after 5 failed sign-ins in a
row): the first run is refused once and fails; the block is in the store (no secret), one alert goes
out and ``bots health`` is CRITICAL naming the site and the clear command. Later runs fail their
setup without a single sign-in reaching the portal and touch no claim. A changed password is tried
again; ``bots signin clear`` lets the same credential try again once the account works.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
from typer.testing import CliRunner

from alert_helpers import Receiver
from bots.cli.app import app
from bots.core.settings import Settings
from bots.core.store import Store
from config_helpers import QUICK_RETRY, edit_toml
from mock_portals import MockPortals
from payer_portal.portal_helpers import items, load_sample, robot_env, workbook_rows

pytestmark = pytest.mark.browser

CLAIMS = ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]  # acme's
WRONG = "wrong-password-zq"


@pytest.fixture
def watched(settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Alerts to the receiver; only payer_portal is scheduled, so health is its health; quick retries."""
    monkeypatch.setenv("BOTS_ALERT_URLS", receiver.url)

    def edit(doc: Any) -> None:
        doc["retry"].update(QUICK_RETRY)
        for bot in ("claim_edits", "status_sync"):
            doc["bots"][bot]["enabled"] = False
    edit_toml(settings.config_dir / "bots.toml", edit)
    return settings


def bots(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), *args])


def run(settings: Settings) -> Any:
    return bots(settings, "run", "payer_portal", *(a for c in CLAIMS for a in ("--claim", c)))


def health(settings: Settings) -> tuple[int, dict[str, Any]]:
    out = bots(settings, "health", "--json")
    body = json.loads(out.stdout)
    return out.exit_code, next(b for b in body["bots"] if b["bot"] == "payer_portal")


def untouched(store: Store) -> None:
    found = {k.split(":", 1)[1]: r for k, r in items(store).items()}
    for claim in CLAIMS:
        assert (found[claim]["state"], found[claim]["attempts"]) == ("new", 0), claim
    assert store.exception_rows("payer_portal") == []


def alerts_text(receiver: Receiver) -> str:
    return json.dumps(receiver.bodies)


def test_a_wrong_password_is_tried_once_across_runs_alerts_once_and_a_changed_one_is_tried(
        watched: Settings, store: Store, portals: MockPortals, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    robot_env(monkeypatch, portals.url, acme_password=WRONG)
    load_sample(store)

    first = run(watched)
    assert first.exit_code == 1, first.output
    assert "sign-in refused" in first.output and "bots signin clear acme" in first.output
    assert portals.stats["login_failures"]["acme"] == 1
    (block,) = store.signin_blocks()
    assert (block["site"], block["bot"], block["run_id"]) == ("acme", "payer_portal", store.list_runs(last=1)[0]["run_id"])
    assert block["origin"] == portals.url.rstrip("/") and "BOTS_PAYER_ACME_PASSWORD" in block["credential_envs"]
    assert len(receiver.bodies) == 1 and "sign-in to acme" in receiver.bodies[0]["message"]
    code, verdict = health(watched)
    assert code == 2 and any("sign-in to acme" in r and "bots signin clear acme" in r for r in verdict["reasons"])

    for _ in range(5):  # the mock would have locked the account on the 5th failure
        again = run(watched)
        assert again.exit_code == 1, again.output
        assert "not tried again" in again.output and "bots signin clear acme" in again.output
    assert portals.stats["login_failures"]["acme"] == 1 and portals.stats["lockouts"]["acme"] == 0
    assert [r["status"] for r in store.list_runs("payer_portal", 6)] == ["failed"] * 6
    untouched(store)
    assert not watched.workbook_path.exists() or all(rows == [] for rows in workbook_rows(watched).values())
    assert store.signin_blocks()[0]["held_runs"] == 5
    assert len(receiver.bodies) == 1, "a run held back by the block is not a new incident"
    assert health(watched)[0] == 2

    robot_env(monkeypatch, portals.url)  # the operator fixes the password: a new credential, tried once
    fixed = run(watched)
    assert fixed.exit_code == 0, fixed.output
    assert portals.stats["logins"]["acme"] == 1
    assert store.signin_blocks() == []
    (old,) = store.signin_blocks(active=False)
    assert old["clear_reason"] == "credential_changed"
    actions = [r["action"] for r in store.audit_records(bot="payer_portal") if r["action"].startswith("signin")]
    assert actions == ["signin_blocked"] + ["signin_held"] * 5 + ["signin_block_superseded"]
    code, verdict = health(watched)
    assert not any("sign-in" in r for r in verdict["reasons"])

    everything = "\n".join([alerts_text(receiver), json.dumps(store.signin_blocks(active=False)),
                            json.dumps(store.audit_records()), (watched.logs_dir / "bots.jsonl").read_text()])
    assert WRONG not in everything and "acme-robot-pass" not in everything


def lock_account(portals: MockPortals) -> None:
    """Someone else's five bad passwords: the portal locks the robot's account."""
    data = urllib.parse.urlencode({"username": "robot", "password": "someone-elses-typo"}).encode()
    for _ in range(5):
        urllib.request.urlopen(f"{portals.url}/acme/login", data=data).read()


def test_a_locked_account_blocks_the_same_credential_until_an_operator_clears_it(
        watched: Settings, store: Store, portals: MockPortals, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    robot_env(monkeypatch, portals.url)
    load_sample(store)
    lock_account(portals)
    assert run(watched).exit_code == 1
    failures = portals.stats["login_failures"]["acme"]
    assert bots(watched, "signin", "status").exit_code == 1
    assert run(watched).exit_code == 1
    assert portals.stats["login_failures"]["acme"] == failures, "the same credential is not tried again"

    portals.reset()  # the payer's help desk unlocks the account
    cleared = bots(watched, "signin", "clear", "acme", "--by", "alice")
    assert cleared.exit_code == 0, cleared.output
    assert bots(watched, "signin", "clear", "acme").exit_code == 1, "nothing left to clear"
    status = bots(watched, "signin", "status")
    assert status.exit_code == 0 and "no sign-in is blocked" in status.output
    (record,) = store.audit_records(action="signin_block_cleared")
    assert json.loads(record["detail"])["by"] == "alice" and record["bot"] == "payer_portal"
    (block,) = store.signin_blocks(active=False)
    assert (block["cleared_by"], block["clear_reason"]) == ("alice", "operator")

    good = run(watched)
    assert good.exit_code == 0, good.output
    assert portals.stats["logins"]["acme"] == 1 and portals.stats["login_failures"]["acme"] == 0
    code, verdict = health(watched)
    assert code == 0, verdict["reasons"]
