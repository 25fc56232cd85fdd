"""Item, row and run states, the moves allowed between them, and how an attempt settles.

Read this module to know what can happen to a work item or an exception row; the store
and the runner only carry these moves out.

**Work items** (``work_items.state``, one per bot and reference)::

    (enqueue) ──> new ──claim──> in_progress ──settle──> done | exception | failed
                   ^  ^              │   │                        │
                   │  └─release──────┘   └─abandon──> abandoned   │
                   │  └─settle: retry next run / deferred   │     │
                   │                     in_progress <─claim┘     │
                   └──────────reopen (a new cycle) ───────────────┘

``revise`` is enqueue meeting a changed digest on an item that has not started yet (new or
abandoned): the new payload replaces the old, attempts start again at zero.

*Deferred* is not a state: the item goes back to ``new`` with ``not_before`` set and the
attempt refunded (``Settlement.DEFERRED``), e.g. a payer portal in its maintenance window.
A *site outage* (``SiteOutage``: the site stopped answering mid-run) sends the item back to
``new`` with the attempt refunded too (``Settlement.OUTAGE``), counted as carried over, and
the run ends ``degraded``; it never becomes a Bot Failures row.

**Exception rows** (``exceptions.bot_status``, the bots' side of a workbook row)::

    (found) ──> Open ──clear──> Cleared        Open | Cleared ──sync──> Synced
                 ^                 │           Synced ──retry_cleared──> Cleared (Bot Failures only)
                 └────recur────────┴── Synced  (recurring after a sync adds a Bot Check)

*sync* is status_sync applying a coder's resolution in billing, or the bots taking a Bot
Failures row resolved "Retry by bot" back into their queue; when that retry gets through,
the row Clears (*retry_cleared*). The coder's own column (``status``: New, In Progress,
Resolved, Escalated) is ``CoderStatus``; a ``Resolved`` row with its evidence complete and
no Bot Check is ready to sync (:func:`ready_to_sync`).

**Retrying** has two levels and two predicates, both here:

- :func:`retry_in_process`: inside one attempt, tenacity retries only a ``SystemFault``
  that says it is retryable (a timeout, a 503), with backoff. A bug raised by a bot is not
  retried in-process: the same input would fail the same way a second later.
- :func:`retry_next_run`: once the attempt has ended in an error, the item gets another run
  (up to ``max_attempts``) unless the error says retrying cannot help (a CAPTCHA, a locked
  account). An unexpected exception (a bug, an untranslated library error) does get its
  runs: the cause may be outside the bot (a file half-written, a page that changed back),
  and after ``max_attempts`` it lands on Bot Failures where a person sees it.

:func:`settle` turns how an attempt ended into the item's next state; it is pure, so the
runner's bookkeeping is tested as a table (``tests/core/test_lifecycle.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from bots.core.errors import BusinessException, ItemDeferred, SiteOutage, SystemFault

__all__ = [
    "APPEAL_PREPARATION", "BOT_FAILURES", "INPUT_PROBLEMS", "ITEM_TRANSITIONS", "OPERATOR_QUEUES", "RESOLUTION_EVIDENCE", "RETRY_RESOLUTION", "ROW_TRANSITIONS",
    "CoderStatus", "InvalidTransition", "ItemEvent", "ItemState", "RowEvent", "RowState", "RunStatus",
    "Settled", "Settlement", "check_item_move", "check_row_move", "item_sources", "item_target",
    "ready_to_sync", "retry_by_bot_requested", "retry_in_process", "retry_next_run", "row_sources", "settle",
]

APPEAL_PREPARATION = "Appeal Preparation"  # an appeal a coder decided on, prepared to its deadline
BOT_FAILURES = "Bot Failures"  # the queue an item lands on when the bots give up on it
INPUT_PROBLEMS = "Input Problems"  # worklist rows that could not be loaded: the operators' queue
# Queues whose rows are the operators' to act on, never a billing update: their resolutions are
# recorded but nothing syncs (a row clears itself when its cause is gone, e.g. the claim loads).
OPERATOR_QUEUES = frozenset({INPUT_PROBLEMS})
RETRY_RESOLUTION = "Retry by bot"  # a Bot Failures resolution the bots act on themselves
# The coder entries a Resolved row needs before anything is applied (store column names).
RESOLUTION_EVIDENCE = ("resolution", "resolution_note", "resolved_by")


class InvalidTransition(ValueError):
    """A move the lifecycle does not allow: a bug in the caller, never a data problem."""


# ---- states ---------------------------------------------------------------------------------------

class ItemState(StrEnum):
    """A work item's state. The values are what the database holds."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    EXCEPTION = "exception"
    FAILED = "failed"
    ABANDONED = "abandoned"

    TERMINAL: ClassVar[tuple[ItemState, ...]]  # settled for this cycle; only reopen moves them
    CLAIMABLE: ClassVar[tuple[ItemState, ...]]  # what a run may claim



class RowState(StrEnum):
    """An exception row's Bot Status: whether the bots still find it. Values as in the workbook."""

    OPEN = "Open"
    CLEARED = "Cleared"
    SYNCED = "Synced"

    CLOSED: ClassVar[tuple[RowState, ...]]  # shown grey: nothing left for the bots to report


RowState.CLOSED = (RowState.CLEARED, RowState.SYNCED)


class CoderStatus(StrEnum):
    """The coder's Status column (their dropdown); a blank cell reads as ``NEW``."""

    NEW = "New"
    IN_PROGRESS = "In Progress"
    RESOLVED = "Resolved"
    ESCALATED = "Escalated"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"
    # Rows for scheduled runs that never started (``Store.record_run_event``): the scheduler was
    # down or busy past the misfire grace time, or the previous run was still going.
    MISSED = "missed"
    SKIPPED = "skipped"
    # The run finished, but part of its work could not be done for a reason outside the items
    # (a site stopped answering mid-run): that work is carried over to the next run.
    DEGRADED = "degraded"


# ---- item moves -------------------------------------------------------------------------------------

class ItemEvent(StrEnum):
    CLAIM = "claim"  # a run takes it (attempts + 1, lease)
    SETTLE = "settle"  # the attempt ended: see settle()
    RELEASE = "release"  # a clean stop hands back an unstarted item (attempt refunded)
    ABANDON = "abandon"  # its run died (lease expired, process gone) or broke
    REOPEN = "reopen"  # a settled item starts a new cycle (claim reloaded, due again, Retry by bot)
    REVISE = "revise"  # enqueue with a changed digest before the item ran: new payload, attempts reset


_I = ItemState
ITEM_TRANSITIONS: Mapping[ItemEvent, tuple[tuple[ItemState, ItemState], ...]] = {
    ItemEvent.CLAIM: ((_I.NEW, _I.IN_PROGRESS), (_I.ABANDONED, _I.IN_PROGRESS)),
    ItemEvent.SETTLE: ((_I.IN_PROGRESS, _I.DONE), (_I.IN_PROGRESS, _I.EXCEPTION), (_I.IN_PROGRESS, _I.FAILED),
                       (_I.IN_PROGRESS, _I.NEW)),  # new: retry next run, or deferred
    ItemEvent.RELEASE: ((_I.IN_PROGRESS, _I.NEW),),
    ItemEvent.ABANDON: ((_I.IN_PROGRESS, _I.ABANDONED),),
    ItemEvent.REOPEN: ((_I.DONE, _I.NEW), (_I.EXCEPTION, _I.NEW), (_I.FAILED, _I.NEW)),
    ItemEvent.REVISE: ((_I.NEW, _I.NEW), (_I.ABANDONED, _I.NEW)),
}
"""Every allowed move, by event: (from, to)."""


def item_sources(event: ItemEvent) -> tuple[ItemState, ...]:
    """The states ``event`` may start from (the store's ``WHERE state IN (…)``)."""
    return tuple(dict.fromkeys(a for a, _ in ITEM_TRANSITIONS[event]))


ItemState.TERMINAL = item_sources(ItemEvent.REOPEN)
ItemState.CLAIMABLE = item_sources(ItemEvent.CLAIM)


def item_target(event: ItemEvent) -> ItemState:
    """Where ``event`` leads, for the events with one destination (all but ``SETTLE``)."""
    targets = {b for _, b in ITEM_TRANSITIONS[event]}
    if len(targets) != 1:
        raise InvalidTransition(f"{event} leads to {sorted(targets)}; name the state")
    return targets.pop()


def check_item_move(state: ItemState | str, to: ItemState, event: ItemEvent) -> ItemState:
    """``to`` if ``event`` may move an item from ``state`` to it; else :class:`InvalidTransition`."""
    if not isinstance(to, ItemState):
        raise InvalidTransition(f"work item state must be an ItemState, not {to!r}")
    if (state, to) not in ITEM_TRANSITIONS[event]:
        raise InvalidTransition(f"a work item cannot {event} from {_shown(state)} to {_shown(to)}; allowed: "
                                + ", ".join(f"{a}→{b}" for a, b in ITEM_TRANSITIONS[event]))
    return to


def _shown(state: StrEnum | str | None) -> str:
    return repr(state.value if isinstance(state, StrEnum) else state)


# ---- row moves --------------------------------------------------------------------------------------

class RowEvent(StrEnum):
    FIND = "find"  # a bot reports it for the first time
    RECUR = "recur"  # a bot reports it again
    CLEAR = "clear"  # the item was worked again and the finding is gone
    SYNC = "sync"  # its resolution was applied (status_sync) or handed back to the bots (Retry by bot)
    RETRY_CLEARED = "retry_cleared"  # a Bot Failures row sent back with Retry by bot: the retry got through


_R = RowState
ROW_TRANSITIONS: Mapping[RowEvent, tuple[tuple[RowState | None, RowState], ...]] = {
    RowEvent.FIND: ((None, _R.OPEN),),
    RowEvent.RECUR: ((_R.OPEN, _R.OPEN), (_R.CLEARED, _R.OPEN), (_R.SYNCED, _R.OPEN)),
    RowEvent.CLEAR: ((_R.OPEN, _R.CLEARED),),
    RowEvent.SYNC: ((_R.OPEN, _R.SYNCED), (_R.CLEARED, _R.SYNCED)),
    RowEvent.RETRY_CLEARED: ((_R.SYNCED, _R.CLEARED),),
}
"""Every allowed move of an exception row's Bot Status, by event: (from, to); ``None`` is no row yet.

A Synced row that recurs goes back to Open with a Bot Check ("recurred after it was
resolved and synced"), so the coder sees their resolution did not hold. Only a
``Bot Failures`` row may take ``RETRY_CLEARED`` (the store's clear statement says so).
"""


def row_sources(event: RowEvent) -> tuple[RowState, ...]:
    return tuple(a for a, _ in ROW_TRANSITIONS[event] if a is not None)


def check_row_move(state: RowState | str | None, to: RowState, event: RowEvent) -> RowState:
    if not isinstance(to, RowState):
        raise InvalidTransition(f"exception row state must be a RowState, not {to!r}")
    if (state, to) not in ROW_TRANSITIONS[event]:
        raise InvalidTransition(f"an exception row cannot {event} from {_shown(state)} to {_shown(to)}")
    return to


def ready_to_sync(row: Mapping[str, Any]) -> bool:
    """A coder resolved the row with complete evidence and no Bot Check, and it is not synced yet.

    A row the bots have Cleared is still ready: the coder's resolution stands. Rows of the
    operators' queues (``OPERATOR_QUEUES``) never are: nothing of theirs goes to billing.
    """
    return (row.get("queue") not in OPERATOR_QUEUES and row["status"] == CoderStatus.RESOLVED
            and row["bot_status"] != RowState.SYNCED
            and not row["bot_check"] and all((row[name] or "").strip() for name in RESOLUTION_EVIDENCE))


def retry_by_bot_requested(row: Mapping[str, Any]) -> bool:
    """A coder sent a Bot Failures row back to the bots ("Retry by bot"), evidence complete:
    the failed item is reopened and the row syncs (``Store.retry_by_bot``)."""
    return row["queue"] == BOT_FAILURES and row["resolution"] == RETRY_RESOLUTION and ready_to_sync(row)


# ---- retrying ---------------------------------------------------------------------------------------

def retry_in_process(exc: BaseException) -> bool:
    """Try the same item again now (tenacity, with backoff): a retryable ``SystemFault`` only."""
    return isinstance(exc, SystemFault) and exc.retryable


def retry_next_run(exc: BaseException) -> bool:
    """Give the item another run (if attempts remain): any error but a business exception, a
    deferral or a fault marked not retryable. See the module docstring for why bugs count."""
    if isinstance(exc, (BusinessException, ItemDeferred)):
        return False
    return not isinstance(exc, SystemFault) or exc.retryable


# ---- settling an attempt ---------------------------------------------------------------------------

class Settlement(StrEnum):
    """How one attempt ended. The value is the ``item_outcome`` audit record's result word."""

    DONE = "done"
    EXCEPTION = "exception"  # a person must look: the bot's exception rows
    DEFERRED = "deferred"  # not now: back to new with not_before, attempt refunded
    RETRY = "fault"  # an error, attempts remain: back to new, tried next run
    FAILED = "failed"  # an error and no attempts left (or no point): a Bot Failures row
    OUTAGE = "site_outage"  # the site stopped answering: back to new, attempt refunded, carried over

    @property
    def counter(self) -> str:
        """The run's count this adds to (``runs`` columns and ``RunResult.counts``)."""
        return _COUNTERS[self]


_COUNTERS = {Settlement.DONE: "done", Settlement.EXCEPTION: "exceptions", Settlement.DEFERRED: "deferred",
             Settlement.RETRY: "retried", Settlement.FAILED: "failed", Settlement.OUTAGE: "retried"}


@dataclass(frozen=True)
class Settled:
    """What :func:`settle` decided for one item."""

    kind: Settlement
    state: ItemState
    refund_attempt: bool = False
    not_before: datetime | None = None
    bot_failure: bool = False  # write a Bot Failures row for a person to do the item by hand

    @property
    def audit_result(self) -> str:
        return self.kind.value


class _Decided(Protocol):
    """What settle() needs of the runner's ``Outcome``."""

    @property
    def exceptions(self) -> Sequence[Any]: ...


def settle(ended: _Decided | BaseException, *, attempts: int, max_attempts: int) -> Settled:
    """The next state of an item whose attempt number ``attempts`` ended with ``ended``:
    the bot's outcome, or the error it raised (after any in-process retries)."""
    if isinstance(ended, BusinessException) or not isinstance(ended, BaseException) and ended.exceptions:
        return Settled(Settlement.EXCEPTION, _settled(ItemState.EXCEPTION))
    if not isinstance(ended, BaseException):
        return Settled(Settlement.DONE, _settled(ItemState.DONE))
    if isinstance(ended, ItemDeferred):
        return Settled(Settlement.DEFERRED, _settled(ItemState.NEW), refund_attempt=True, not_before=ended.until)
    if isinstance(ended, SiteOutage):  # not the item's fault: never a Bot Failures row, whatever its attempts
        return Settled(Settlement.OUTAGE, _settled(ItemState.NEW), refund_attempt=True)
    if retry_next_run(ended) and attempts < max_attempts:
        return Settled(Settlement.RETRY, _settled(ItemState.NEW))
    return Settled(Settlement.FAILED, _settled(ItemState.FAILED), bot_failure=True)


def _settled(to: ItemState) -> ItemState:
    return check_item_move(ItemState.IN_PROGRESS, to, ItemEvent.SETTLE)
