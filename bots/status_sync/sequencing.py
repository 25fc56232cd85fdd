"""Which of several updates for one claim goes to billing, and in what order.

Updates for a claim are taken oldest first (work items are claimed by sort key, the time
they were queued), but several workers run at once and a fault sends an item back for a
later try, so order cannot rest on claiming alone. Before it touches billing, each item
looks at the claim's other items:

- **A bot's status update is superseded** when a newer item for the same claim is pending
  (new, abandoned, in progress) or already done: billing should show the newest word, and
  writing an older status after a newer one would turn the record back. The item ends
  ``done`` with result ``superseded`` and an audit record naming the newer item; nothing
  is written. A newer item that ended in an exception or failed supersedes nothing: the
  older status is then the best one there is.
- **A coder's resolution is never superseded**: it is a person's decision the workbook row
  waits on (it turns ``Synced`` only once billing shows it). It is applied in its turn, and
  a newer update follows it.
- **A newer item waits for an older resolution** of the same claim that is still pending:
  it is deferred (``ItemDeferred``, no attempt spent) to the next run, which takes the
  resolution first.

So of the pending items of a claim, exactly one touches billing at a time: the oldest
pending resolution, or else the newest status update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from bots.core.store import ClaimedItem, ItemState, Store
from bots.status_sync.updates import is_resolution

__all__ = ["Turn", "whose_turn"]

_PENDING = (ItemState.NEW, ItemState.ABANDONED, ItemState.IN_PROGRESS)


class _Row(NamedTuple):
    id: int
    reference: str
    sort_key: str
    state: str


@dataclass(frozen=True)
class Turn:
    superseded_by: str | None = None   # a newer item makes this one unnecessary
    waiting_for: str | None = None     # an older resolution goes first

    @property
    def go(self) -> bool:
        return self.superseded_by is None and self.waiting_for is None


def whose_turn(store: Store, bot: str, item: ClaimedItem) -> Turn:
    if item.claim_key is None:
        return Turn()
    rows = [_Row(r["id"], r["reference"], r["sort_key"], r["state"])
            for r in store.work_items(bot, claim_key=item.claim_key)]
    mine = next((r for r in rows if r.id == item.id), None)
    if mine is None:
        return Turn()
    order = (mine.sort_key, mine.id)
    if not is_resolution(item.reference):
        newer = [r for r in rows if (r.sort_key, r.id) > order and r.state in (*_PENDING, ItemState.DONE)]
        if newer:
            return Turn(superseded_by=max(newer, key=lambda r: (r.sort_key, r.id)).reference)
    older = [r for r in rows if (r.sort_key, r.id) < order and r.state in _PENDING and is_resolution(r.reference)]
    if older:
        return Turn(waiting_for=min(older, key=lambda r: (r.sort_key, r.id)).reference)
    return Turn()
