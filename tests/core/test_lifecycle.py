"""The item and row lifecycles as tables: every allowed move, a set of forbidden ones, and how
each way an attempt can end settles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from bots.core.errors import (
    BusinessException, CaptchaChallenge, ExceptionRecord, ItemDeferred, LoginFailed, PortalTimeout, PortalUnavailable,
    SiteOutage,
)
from bots.core.lifecycle import (
    ITEM_TRANSITIONS, ROW_TRANSITIONS, CoderStatus, InvalidTransition, ItemEvent, ItemState, RowEvent, RowState,
    RunStatus, Settled, Settlement, check_item_move, check_row_move, item_sources, item_target, ready_to_sync,
    retry_in_process, retry_next_run, settle,
)

I, R, S = ItemState, RowState, Settlement

ALLOWED_ITEM_MOVES = [
    (I.NEW, I.IN_PROGRESS, ItemEvent.CLAIM),
    (I.ABANDONED, I.IN_PROGRESS, ItemEvent.CLAIM),
    (I.IN_PROGRESS, I.DONE, ItemEvent.SETTLE),
    (I.IN_PROGRESS, I.EXCEPTION, ItemEvent.SETTLE),
    (I.IN_PROGRESS, I.FAILED, ItemEvent.SETTLE),
    (I.IN_PROGRESS, I.NEW, ItemEvent.SETTLE),
    (I.IN_PROGRESS, I.NEW, ItemEvent.RELEASE),
    (I.IN_PROGRESS, I.ABANDONED, ItemEvent.ABANDON),
    (I.DONE, I.NEW, ItemEvent.REOPEN),
    (I.EXCEPTION, I.NEW, ItemEvent.REOPEN),
    (I.FAILED, I.NEW, ItemEvent.REOPEN),
    (I.NEW, I.NEW, ItemEvent.REVISE),
    (I.ABANDONED, I.NEW, ItemEvent.REVISE),
]

FORBIDDEN_ITEM_MOVES = [
    (I.DONE, I.IN_PROGRESS, ItemEvent.CLAIM),  # settled items are reopened, never claimed
    (I.FAILED, I.IN_PROGRESS, ItemEvent.CLAIM),
    (I.IN_PROGRESS, I.IN_PROGRESS, ItemEvent.CLAIM),  # two runs never hold one item
    (I.NEW, I.DONE, ItemEvent.SETTLE),  # only an item in hand settles
    (I.ABANDONED, I.FAILED, ItemEvent.SETTLE),
    (I.IN_PROGRESS, I.ABANDONED, ItemEvent.SETTLE),  # abandoning is the run's doing, not an outcome
    (I.DONE, I.NEW, ItemEvent.RELEASE),
    (I.NEW, I.ABANDONED, ItemEvent.ABANDON),
    (I.NEW, I.NEW, ItemEvent.REOPEN),  # reopen starts a new cycle of a settled item only
    (I.IN_PROGRESS, I.NEW, ItemEvent.REOPEN),  # an item in hand is never pulled from its run
    (I.ABANDONED, I.NEW, ItemEvent.REOPEN),
    (I.DONE, I.NEW, ItemEvent.REVISE),  # a settled item with a new digest is reopened (a new cycle)
    (I.IN_PROGRESS, I.NEW, ItemEvent.REVISE),
]


def test_the_item_tables_list_exactly_the_allowed_moves() -> None:
    table = {(a, b, e) for e, moves in ITEM_TRANSITIONS.items() for a, b in moves}
    assert table == set(ALLOWED_ITEM_MOVES)


@pytest.mark.parametrize(("state", "to", "event"), ALLOWED_ITEM_MOVES)
def test_allowed_item_move(state: ItemState, to: ItemState, event: ItemEvent) -> None:
    assert check_item_move(state, to, event) is to
    assert check_item_move(state.value, to, event) is to  # as read from the database


@pytest.mark.parametrize(("state", "to", "event"), FORBIDDEN_ITEM_MOVES)
def test_forbidden_item_move(state: ItemState, to: ItemState, event: ItemEvent) -> None:
    with pytest.raises(InvalidTransition, match=f"cannot {event.value} from '{state.value}'"):
        check_item_move(state, to, event)


@pytest.mark.parametrize("to", ["done", "finished", None])
def test_an_item_state_must_be_an_item_state(to: Any) -> None:
    with pytest.raises(InvalidTransition, match="must be an ItemState"):
        check_item_move(I.IN_PROGRESS, to, ItemEvent.SETTLE)


@pytest.mark.parametrize(("event", "sources", "target"), [
    (ItemEvent.CLAIM, (I.NEW, I.ABANDONED), I.IN_PROGRESS),
    (ItemEvent.RELEASE, (I.IN_PROGRESS,), I.NEW),
    (ItemEvent.ABANDON, (I.IN_PROGRESS,), I.ABANDONED),
    (ItemEvent.REOPEN, (I.DONE, I.EXCEPTION, I.FAILED), I.NEW),
    (ItemEvent.REVISE, (I.NEW, I.ABANDONED), I.NEW),
])
def test_store_statements_read_sources_and_targets_from_the_table(
        event: ItemEvent, sources: tuple[ItemState, ...], target: ItemState) -> None:
    assert item_sources(event) == sources
    assert item_target(event) is target


def test_settle_has_no_single_target_and_the_named_groups_follow_the_table() -> None:
    with pytest.raises(InvalidTransition):
        item_target(ItemEvent.SETTLE)
    assert ItemState.TERMINAL == (I.DONE, I.EXCEPTION, I.FAILED)
    assert ItemState.CLAIMABLE == (I.NEW, I.ABANDONED)


ALLOWED_ROW_MOVES = [
    (None, R.OPEN, RowEvent.FIND),
    (R.OPEN, R.OPEN, RowEvent.RECUR),
    (R.CLEARED, R.OPEN, RowEvent.RECUR),
    (R.SYNCED, R.OPEN, RowEvent.RECUR),
    (R.OPEN, R.CLEARED, RowEvent.CLEAR),
    (R.OPEN, R.SYNCED, RowEvent.SYNC),
    (R.CLEARED, R.SYNCED, RowEvent.SYNC),
    (R.SYNCED, R.CLEARED, RowEvent.RETRY_CLEARED),
]

FORBIDDEN_ROW_MOVES = [
    (R.OPEN, R.OPEN, RowEvent.FIND),  # a known row recurs; it is not found twice
    (R.SYNCED, R.CLEARED, RowEvent.CLEAR),  # a synced row Clears only after a Retry by bot got through
    (R.CLEARED, R.CLEARED, RowEvent.CLEAR),
    (R.SYNCED, R.SYNCED, RowEvent.SYNC),  # a resolution is applied once
    (R.OPEN, R.CLEARED, RowEvent.RETRY_CLEARED),
    (R.CLEARED, R.SYNCED, RowEvent.RECUR),
]


def test_the_row_table_lists_exactly_the_allowed_moves() -> None:
    table = {(a, b, e) for e, moves in ROW_TRANSITIONS.items() for a, b in moves}
    assert table == set(ALLOWED_ROW_MOVES)


@pytest.mark.parametrize(("state", "to", "event"), ALLOWED_ROW_MOVES)
def test_allowed_row_move(state: RowState | None, to: RowState, event: RowEvent) -> None:
    assert check_row_move(state, to, event) is to


@pytest.mark.parametrize(("state", "to", "event"), FORBIDDEN_ROW_MOVES)
def test_forbidden_row_move(state: RowState, to: RowState, event: RowEvent) -> None:
    with pytest.raises(InvalidTransition, match=f"cannot {event.value}"):
        check_row_move(state, to, event)


def test_states_keep_the_values_the_database_and_the_workbook_hold() -> None:
    assert [s.value for s in ItemState] == ["new", "in_progress", "done", "exception", "failed", "abandoned"]
    assert [s.value for s in RowState] == ["Open", "Cleared", "Synced"]
    assert RowState.CLOSED == (R.CLEARED, R.SYNCED)
    assert [s.value for s in CoderStatus] == ["New", "In Progress", "Resolved", "Escalated"]
    assert [s.value for s in RunStatus] == ["running", "succeeded", "failed", "interrupted", "crashed", "missed",
                                            "skipped", "degraded"]


def _row(**kw: Any) -> dict[str, Any]:
    return {"status": "Resolved", "bot_status": "Open", "bot_check": None, "resolution": "Corrected",
            "resolution_note": "fixed the modifier", "resolved_by": "jlee", **kw}


@pytest.mark.parametrize(("row", "ready"), [
    (_row(), True),
    (_row(bot_status="Cleared"), True),  # the coder's resolution stands when the bots no longer see it
    (_row(bot_status="Synced"), False),
    (_row(status="In Progress"), False),
    (_row(bot_check="missing Resolved By"), False),
    (_row(resolution_note="  "), False),
    (_row(resolved_by=None), False),
])
def test_ready_to_sync(row: dict[str, Any], ready: bool) -> None:
    assert ready_to_sync(row) is ready


# ---- retrying and settling -----------------------------------------------------------------------

BUG = ValueError("a bug")
RECORD = ExceptionRecord(queue="Denials", rule_id="X", reason="denied")
UNTIL = datetime(2030, 1, 1, 6, 0)


@pytest.mark.parametrize(("exc", "in_process", "next_run"), [
    (PortalTimeout("slow"), True, True),
    (PortalUnavailable("503"), True, True),
    (CaptchaChallenge("captcha"), False, False),
    (LoginFailed("locked"), False, False),
    (SiteOutage("acme", "down"), False, False),
    (BUG, False, True),  # not retried now (same input, same bug), but given its runs
    (BusinessException(RECORD), False, False),
    (ItemDeferred("maintenance"), False, False),
])
def test_retrying_at_each_level(exc: BaseException, in_process: bool, next_run: bool) -> None:
    assert retry_in_process(exc) is in_process
    assert retry_next_run(exc) is next_run


@dataclass
class _Outcome:
    exceptions: list[ExceptionRecord] = field(default_factory=list)


@pytest.mark.parametrize(("ended", "attempts", "settled"), [
    (_Outcome(), 1, Settled(S.DONE, I.DONE)),
    (_Outcome(), 3, Settled(S.DONE, I.DONE)),
    (_Outcome([RECORD]), 1, Settled(S.EXCEPTION, I.EXCEPTION)),
    (BusinessException(RECORD), 1, Settled(S.EXCEPTION, I.EXCEPTION)),
    (ItemDeferred("maintenance", until=UNTIL), 1, Settled(S.DEFERRED, I.NEW, refund_attempt=True, not_before=UNTIL)),
    (ItemDeferred("waits for an older item"), 3, Settled(S.DEFERRED, I.NEW, refund_attempt=True)),
    (PortalTimeout("slow"), 1, Settled(S.RETRY, I.NEW)),
    # a site outage is never the item's fault: back untouched, even on its last attempt
    (SiteOutage("acme", "acme stopped answering"), 1, Settled(S.OUTAGE, I.NEW, refund_attempt=True)),
    (SiteOutage("acme", "acme stopped answering"), 3, Settled(S.OUTAGE, I.NEW, refund_attempt=True)),
    (PortalTimeout("slow"), 2, Settled(S.RETRY, I.NEW)),
    (PortalTimeout("slow"), 3, Settled(S.FAILED, I.FAILED, bot_failure=True)),
    (PortalTimeout("slow"), 4, Settled(S.FAILED, I.FAILED, bot_failure=True)),
    (BUG, 1, Settled(S.RETRY, I.NEW)),
    (BUG, 3, Settled(S.FAILED, I.FAILED, bot_failure=True)),
    (CaptchaChallenge("captcha"), 1, Settled(S.FAILED, I.FAILED, bot_failure=True)),
])
def test_settle(ended: Any, attempts: int, settled: Settled) -> None:
    assert settle(ended, attempts=attempts, max_attempts=3) == settled


@pytest.mark.parametrize(("kind", "audit", "counter"), [
    (S.DONE, "done", "done"), (S.EXCEPTION, "exception", "exceptions"), (S.DEFERRED, "deferred", "deferred"),
    (S.RETRY, "fault", "retried"), (S.FAILED, "failed", "failed"), (S.OUTAGE, "site_outage", "retried"),
])
def test_each_settlement_names_its_audit_result_and_run_count(kind: Settlement, audit: str, counter: str) -> None:
    assert Settled(kind, I.DONE).audit_result == audit
    assert kind.counter == counter
