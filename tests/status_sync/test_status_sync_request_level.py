"""status_sync at request level (``mode = "request"``, the default): the claim form is read from its
HTML and posted through the signed-in session, hidden anti-forgery token included, then read
back; every billing change is still recorded exactly once, whatever 503s and expired sessions
come between. ``mode = "ui"`` still fills the form in a browser tab."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from bots.core.settings import Settings
from bots.core.store import Store
from bots.status_sync import pages
from mock_portals import MockPortals
from status_sync.sync_helpers import (
    audit_rows, billing, claimable, exception_rows, items, queue, run, set_retry, update, use_mode,
)

pytestmark = pytest.mark.browser

STATUSES = ["Paid", "Denied", "Pending", "Accepted", "Info requested", "Ready to rebill"]
TARGETS = {f"CLM-{1001 + n}": STATUSES[n % len(STATUSES)] for n in range(16)}


def pushes(store: Store, claim_id: str) -> list[dict[str, Any]]:
    return [{**r, "detail": json.loads(r["detail"])} for r in audit_rows(store, "status_pushed")
            if r["claim_id"] == claim_id]


def robot_changes(portals: MockPortals, claim_id: str) -> list[dict[str, Any]]:
    return [h for h in billing(portals)[claim_id].get("history") or [] if h["user"] == "robot"]


@pytest.mark.parametrize("seed", [3, 8])
def test_under_503s_and_expiry_every_15_requests_each_billing_change_has_exactly_one_push(
        settings: Settings, store: Store, env: MockPortals, seed: int) -> None:
    settings = set_retry(settings, attempts=3)
    queue(store, [update(claim, status) for claim, status in TARGETS.items()])
    env.set_faults(f"error_rate=0.2,expire_after=15,seed={seed}")
    runs = 0
    while runs == 0 or claimable(store):
        run(settings, store)
        runs += 1
        assert runs <= 4, "items still claimable after max_attempts runs"

    stats = env.stats
    assert stats["errors_503"]["billing"] > 3 and stats["sessions_expired"]["billing"] > 0
    # Every save was posted at request level, each with the form's own token.
    assert stats["saves_from_tab"]["billing"] == 0 and stats["csrf_refused"]["billing"] == 0
    states = {i["claim_key"].split(":", 1)[-1]: i["state"] for i in items(store).values()}
    assert set(states.values()) <= {"done", "failed"}
    for claim, status in TARGETS.items():
        changes, recorded = robot_changes(env, claim), pushes(store, claim)
        assert len(changes) <= 1, f"{claim} was written twice"
        assert len(recorded) == len(changes), claim  # one push record per billing change, whatever failed
        for change, push in zip(changes, recorded, strict=True):
            assert push["detail"]["after"]["status"] == change["status"] == status
            assert push["detail"]["before"]["status"] == change["from_status"] == "Submitted"
        if states[claim] == "done":
            assert billing(env)[claim]["status"] == status and len(changes) == 1
        else:  # a Bot Failures row for a person, and only when billing was not changed
            assert changes == []
    assert stats["saves"]["billing"] == sum(len(robot_changes(env, c)) for c in TARGETS)
    failed = {claim for claim, state in states.items() if state == "failed"}
    assert {r["claim_id"] for r in exception_rows(store)} == failed
    assert store.verify_audit() == []


def test_the_form_is_posted_with_its_hidden_csrf_token_without_a_tab_and_read_back(
        settings: Settings, store: Store, env: MockPortals) -> None:
    queue(store, [update("CLM-1021", "Paid"), update("CLM-1022", "Denied")])
    assert run(settings, store).counts["done"] == 2

    stats = env.stats
    assert stats["saves"]["billing"] == 2 and stats["saves_from_tab"]["billing"] == 0
    assert stats["csrf_refused"]["billing"] == 0
    for claim, status in (("CLM-1021", "Paid"), ("CLM-1022", "Denied")):
        (push,) = pushes(store, claim)
        assert push["detail"]["after"] == {"status": status, "note": billing(env)[claim]["note"]}
        snapshot = Path(push["evidence_path"]).read_text()  # the form as read back, as billing sent it
        assert 'name="csrf_token"' in snapshot and f'<span id="current-status">{status}</span>' in snapshot


def test_a_post_refused_for_its_security_token_is_saved_again_with_a_fresh_form_not_sent_to_a_person(
        settings: Settings, store: Store, env: MockPortals, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pages.read_form
    reads: list[str] = []

    def token_lost_once(*args: Any, **kwargs: Any) -> Any:
        form = real(*args, **kwargs)
        reads.append("read")
        if len(reads) == 1 and form is not None:
            return dataclasses.replace(form, fields=tuple(f for f in form.fields if f[0] != "csrf_token"))
        return form

    monkeypatch.setattr(pages, "read_form", token_lost_once)
    queue(store, [update("CLM-1023", "Pending")])
    result = run(settings, store)

    assert result.counts["done"] == 1 and exception_rows(store) == []
    assert env.stats["csrf_refused"]["billing"] == 1 and env.stats["saves"]["billing"] == 1
    assert [h["status"] for h in robot_changes(env, "CLM-1023")] == ["Pending"]
    (push,) = pushes(store, "CLM-1023")
    assert "recovered" not in push["detail"] and push["detail"]["before"]["status"] == "Submitted"
    assert len(audit_rows(store, "status_save_submitted")) == 2  # a mark before each post


def test_mode_ui_fills_the_form_and_presses_save_in_a_browser_tab(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    use_mode(config_dir, "ui")
    queue(store, [update("CLM-1024", "Accepted"), update("CLM-1025", "Info requested")])
    assert run(settings, store).counts["done"] == 2

    stats = env.stats
    assert stats["saves"]["billing"] == stats["saves_from_tab"]["billing"] == 2
    assert stats["csrf_refused"]["billing"] == 0  # the browser sent the hidden field itself
    for claim, status in (("CLM-1024", "Accepted"), ("CLM-1025", "Info requested")):
        (push,) = pushes(store, claim)
        assert push["detail"]["after"]["status"] == billing(env)[claim]["status"] == status


def test_several_updates_of_one_claim_taken_by_parallel_workers_write_only_the_newest_once(
        settings: Settings, store: Store, env: MockPortals) -> None:
    for status in ("Pending", "Denied", "Paid"):  # queued one after the other, oldest first
        queue(store, [update("CLM-1026", status, run_id=f"run-{status}")])
    queue(store, [update("CLM-1027", "Accepted")])
    result = run(settings, store)  # 20 workers: the claim's three items are in progress at once

    assert result.counts["done"] == 4 and exception_rows(store) == []
    assert [h["status"] for h in robot_changes(env, "CLM-1026")] == ["Paid"]
    superseded = [json.loads(r["detail"]) for r in audit_rows(store, "status_superseded")]
    assert sorted(d["status"] for d in superseded) == ["Denied", "Pending"]
    assert {d["superseded_by"] for d in superseded} == {"acme:CLM-1026|Paid|"}
    assert len(pushes(store, "CLM-1026")) == 1 and len(pushes(store, "CLM-1027")) == 1
