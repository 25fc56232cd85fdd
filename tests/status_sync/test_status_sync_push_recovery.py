"""A save whose confirmation or read-back a fault cut off (or whose process was killed before the
commit) is still the bot's write: the next look at billing records it as pushed, once, with the
status before it from billing's history, and never sends it to a person as Bot Failures work."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from bots.core.runner import run_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.status_sync import create_bot
from mock_portals import MockPortals
from status_sync.sync_helpers import (
    BOT, audit_rows, billing, exception_rows, items, queue, run, run_until_settled, set_retry, update, use_mode,
)

pytestmark = pytest.mark.browser

UNKNOWN_BEFORE = "unknown, found at target"


def pushes(store: Store, claim_id: str) -> list[dict[str, Any]]:
    return [{**r, "detail": json.loads(r["detail"])} for r in audit_rows(store, "status_pushed")
            if r["claim_id"] == claim_id]


def robot_changes(portals: MockPortals, claim_id: str) -> list[dict[str, Any]]:
    return [h for h in billing(portals)[claim_id].get("history") or [] if h["user"] == "robot"]


def test_session_expiry_right_after_the_save_is_recorded_as_one_push_with_the_before_status_from_history(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    # In a tab, the save's confirmation page is the sign-in page: the save is unconfirmed, and the
    # read-back finds billing at the target with the item's save mark pending.
    use_mode(config_dir, "ui")
    queue(store, [update("CLM-1001", "Pending", run_id="run-earlier")])
    run(settings, store)
    # The last attempt the item has: before, a fault after the save sent it to Bot Failures.
    settings = set_retry(settings, attempts=1, max_attempts=1)
    env.set_faults("after_save=expire")
    queue(store, [update("CLM-1001", "Paid")])
    result = run(settings, store)

    assert result.counts["done"] == 1 and result.counts["failed"] == 0 and exception_rows(store) == []
    assert env.stats["sessions_expired"]["billing"] == 1
    assert [(h["from_status"], h["status"]) for h in robot_changes(env, "CLM-1001")] == [
        ("Submitted", "Pending"), ("Pending", "Paid")]
    paid = [p for p in pushes(store, "CLM-1001") if p["detail"]["after"]["status"] == "Paid"]
    (push,) = paid
    assert push["detail"]["before"]["status"] == "Pending" and push["detail"]["before_source"] == "billing history"
    assert push["detail"]["recovered"] is True
    assert push["detail"]["after"]["note"] == billing(env)["CLM-1001"]["note"]
    assert [r for r in audit_rows(store, "status_verified") if r["claim_id"] == "CLM-1001"] == []
    (mark,) = [r for r in audit_rows(store, "status_save_submitted") if r["item_ref"] == push["item_ref"]]
    assert mark["seq"] < push["seq"] and push["detail"]["save_submitted"]["seq"] == mark["seq"]
    assert store.verify_audit() == []


def test_at_request_level_the_posts_own_answer_confirms_a_save_the_session_ended_after(
        settings: Settings, store: Store, env: MockPortals) -> None:
    # The post's answer is the app's redirect to the saved form: the save is confirmed there, and
    # the read-back (a load, which may be repeated) signs in again. One push, not a recovery.
    env.set_faults("after_save=expire")
    queue(store, [update("CLM-1004", "Paid")])
    result = run(settings, store)

    assert result.counts["done"] == 1 and result.counts["retries"] == 0 and exception_rows(store) == []
    assert env.stats["sessions_expired"]["billing"] == 1 and env.stats["saves_from_tab"]["billing"] == 0
    assert [(h["from_status"], h["status"]) for h in robot_changes(env, "CLM-1004")] == [("Submitted", "Paid")]
    (push,) = pushes(store, "CLM-1004")
    assert push["detail"]["before"]["status"] == "Submitted" and "recovered" not in push["detail"]
    assert audit_rows(store, "status_verified") == [] and store.verify_audit() == []


def test_without_history_on_the_form_the_recovered_push_says_the_before_status_is_unknown(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    text = (config_dir / "billing.toml").read_text()
    start = text.index("[selectors.history]")
    (config_dir / "billing.toml").write_text(text[:start] + text[text.index("[selectors.system]"):])
    use_mode(config_dir, "ui")  # a tab's confirmation is lost to the expiry (see above)
    env.set_faults("after_save=expire")
    queue(store, [update("CLM-1002", "Denied")])
    assert run(settings, store).counts["done"] == 1

    (push,) = pushes(store, "CLM-1002")
    assert push["detail"]["before"]["status"] == UNKNOWN_BEFORE and push["detail"]["recovered"] is True
    assert push["detail"]["save_submitted"]["status_read_before"] == "Submitted"
    assert len(robot_changes(env, "CLM-1002")) == 1 and audit_rows(store, "status_verified") == []


def test_a_status_found_at_the_target_without_a_save_by_the_bot_stays_verified(
        settings: Settings, store: Store, env: MockPortals) -> None:
    queue(store, [update("CLM-1066", "Ready to submit")])  # billing shows that already
    assert run(settings, store).counts["done"] == 1
    assert pushes(store, "CLM-1066") == [] and len(audit_rows(store, "status_verified")) == 1


def test_under_random_faults_every_billing_change_has_exactly_one_push_record(
        settings: Settings, store: Store, env: MockPortals) -> None:
    targets = {f"CLM-{1001 + n}": status for n, status in enumerate(
        ["Paid", "Denied", "Pending", "Accepted", "Info requested", "Paid", "Denied", "Pending"])}
    queue(store, [update(claim, status) for claim, status in targets.items()])
    env.set_faults("error_rate=0.2,expire_after=15,latency_ms=300,seed=5")
    run_until_settled(settings, store, max_runs=4)

    for claim, status in targets.items():
        changes = robot_changes(env, claim)
        recorded = pushes(store, claim)
        assert len(recorded) == len(changes), claim  # one push record per billing change, whatever failed
        for change, push in zip(changes, recorded, strict=True):
            assert push["detail"]["after"]["status"] == change["status"] == status
            assert push["detail"]["before"]["status"] == change["from_status"]
    failed = {i["claim_key"].split(":", 1)[-1] for i in items(store).values() if i["state"] == "failed"}
    assert not any(robot_changes(env, claim) for claim in failed), "failed for a write that happened"
    assert {r["claim_id"] for r in exception_rows(store)} == failed
    assert store.verify_audit() == []


def _run_killed_after_save(settings: Settings) -> None:
    """A ``bots run status_sync`` process that is killed (SIGKILL, nothing cleaned up) right
    after its save, when it starts the read-back: nothing of the item's outcome is committed."""
    from bots.status_sync import pages

    real_open = pages.EditPage.open

    async def open_then_die(cls: type, lease: Any, config: Any, claim_id: str, *, read_only: bool = False) -> Any:
        if read_only:
            os.kill(os.getpid(), signal.SIGKILL)
        return await real_open.__func__(cls, lease, config, claim_id, read_only=read_only)  # type: ignore[attr-defined]

    pages.EditPage.open = classmethod(open_then_die)  # type: ignore[method-assign, assignment]
    store = Store(settings.db_url)
    run_bot(create_bot(settings), settings, store)


def test_a_run_killed_between_the_save_and_the_commit_is_recorded_once_by_the_next_run(
        settings: Settings, store: Store, env: MockPortals) -> None:
    queue(store, [update("CLM-1003", "Accepted")])
    child = multiprocessing.get_context("spawn").Process(target=_run_killed_after_save, args=(settings,))
    child.start()
    child.join(timeout=300)
    assert child.exitcode == -signal.SIGKILL
    assert billing(env)["CLM-1003"]["status"] == "Accepted" and audit_rows(store, "status_pushed") == []
    (ref,) = items(store)
    assert items(store)[ref]["state"] == "in_progress"

    result = run(settings, store)  # recovers the dead process's item, then works it
    assert result.counts["done"] == 1 and exception_rows(store) == []
    (push,) = pushes(store, "CLM-1003")
    assert push["detail"]["before"]["status"] == "Submitted" and push["detail"]["recovered"] is True
    assert len(robot_changes(env, "CLM-1003")) == 1 and items(store)[ref]["state"] == "done"
    assert push["bot"] == BOT and store.verify_audit() == []
