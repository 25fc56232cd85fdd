"""Several updates for one claim: the newest status wins, a coder's resolution is never skipped
and goes first, and other claims are not held up."""

from __future__ import annotations

from bots.core.store import ClaimedItem, ItemState, Store, WorkItemSpec
from bots.status_sync.sequencing import Turn, whose_turn

BOT = "status_sync"
OLD, RES, NEW = "acme:CLM-1|Pending|", "resolution:EX-000000000001", "acme:CLM-1|Paid|"


def _claimed(store: Store) -> dict[str, ClaimedItem]:
    store.enqueue(BOT, [
        WorkItemSpec(OLD, "acme:CLM-1", sort_key="20261101000000000000"),
        WorkItemSpec(RES, "acme:CLM-1", sort_key="20261102000000000000"),
        WorkItemSpec(NEW, "acme:CLM-1", sort_key="20261103000000000000"),
        WorkItemSpec("acme:CLM-2|Paid|", "acme:CLM-2", sort_key="20261101000000000000"),
    ])
    return {i.reference: i for i in store.claim_items(BOT, "run-1", limit=10, lease_seconds=60)}


def _finish(store: Store, item: ClaimedItem, state: str) -> None:
    with store.begin() as conn:
        store.set_item_state(conn, item, state)


def test_the_newest_status_supersedes_older_ones_and_waits_for_an_older_resolution(store: Store) -> None:
    items = _claimed(store)
    assert whose_turn(store, BOT, items[OLD]) == Turn(superseded_by=NEW)
    assert whose_turn(store, BOT, items[RES]).go  # a resolution is never superseded
    assert whose_turn(store, BOT, items[NEW]) == Turn(waiting_for=RES)
    assert whose_turn(store, BOT, items["acme:CLM-2|Paid|"]).go

    _finish(store, items[RES], ItemState.DONE)
    assert whose_turn(store, BOT, items[NEW]).go


def test_a_newer_update_that_failed_supersedes_nothing(store: Store) -> None:
    items = _claimed(store)
    _finish(store, items[NEW], ItemState.FAILED)
    _finish(store, items[RES], ItemState.EXCEPTION)
    assert whose_turn(store, BOT, items[OLD]).go  # the best status there is
