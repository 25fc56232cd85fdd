"""One path for outcomes: a raised BusinessException keeps the intents it carries, intents are
applied by the store as data, and the store settles items only into lifecycle states."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from bots.core import registry
from bots.core.errors import BusinessException, ExceptionRecord
from bots.core.lifecycle import InvalidTransition, ItemState, RowState
from bots.core.runner import ItemContext, Outcome, RunContext, StatusUpdate, run_bot
from bots.core.settings import Settings
from bots.core.store import ClaimedItem, Store, WorkItemSpec

RECORD = ExceptionRecord(queue="Claim Edits", rule_id="TEST-RULE", reason="needs a person", claim_id="CLM-1")


class _OneItemBot:
    """Reports its one item's exception by raising or by returning, with a status update either way."""

    name = "claim_edits"

    def __init__(self, raises: bool):
        self.raises = raises

    def enqueue(self, run: RunContext) -> int:
        return run.store.enqueue(self.name, [WorkItemSpec(reference="item-1", digest="v1")])

    def session(self, run: RunContext) -> Any:
        return contextlib.nullcontext()

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        update = StatusUpdate(claim_id="CLM-1", payer_id="acme", status="Edit Hold", note="held",
                              source_bot=self.name, run_id=ctx.run_id)
        if self.raises:
            raise BusinessException(RECORD, intents=[update])
        return Outcome(exceptions=[RECORD], intents=[update])

    def references_for_claims(self, store: Store, claim_ids: set[str]) -> list[str]:
        return []


@pytest.mark.parametrize("raises", [True, False], ids=["raised", "returned"])
def test_a_business_exception_is_recorded_alike_raised_or_returned(
        settings: Settings, store: Store, raises: bool) -> None:
    result = run_bot(_OneItemBot(raises), settings, store, write_workbook=False)
    assert result.counts["exceptions"] == 1 and result.counts["done"] == 0
    assert store.item_counts("claim_edits") == {ItemState.EXCEPTION: 1}
    handed = store.item_counts(registry.handoff_target(registry.STATUS_UPDATE))
    assert handed == {ItemState.NEW: 1}, "the status update travels with the exception, however it was reported"


def _claimed(store: Store) -> ClaimedItem:
    store.enqueue("claim_edits", [WorkItemSpec(reference="item-1", digest="v1")])
    [item] = store.claim_items("claim_edits", "run-1", limit=1, lease_seconds=60)
    return item


@pytest.mark.parametrize("state", ["done", ItemState.ABANDONED, ItemState.IN_PROGRESS, RowState.OPEN])
def test_the_store_settles_items_only_into_lifecycle_states(store: Store, state: Any) -> None:
    item = _claimed(store)
    with pytest.raises(InvalidTransition), store.begin() as conn:
        store.set_item_state(conn, item, state)
    assert store.item_counts("claim_edits") == {ItemState.IN_PROGRESS: 1}


def test_the_store_refuses_what_is_not_an_intent(store: Store) -> None:
    with pytest.raises(TypeError, match="not an intent"), store.begin() as conn:
        store.apply_intents(conn, [lambda c: None])  # type: ignore[list-item]
