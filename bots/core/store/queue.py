"""Work items: enqueue, lease, claim, release and settle; the queue every bot's runner draws from.

The state names and which moves between them are allowed live in ``bots.core.lifecycle``:
each statement here takes its ``WHERE state IN (…)`` and its new state from that table
(``item_sources``/``item_target``), so the SQL cannot drift from the lifecycle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, func, select, tuple_, update

from bots.core.lifecycle import ItemEvent, ItemState, RunStatus, check_item_move, item_sources, item_target
from bots.core.store.base import StoreBase, canonical_json, chunks as _chunks, iso as _iso, utcnow
from bots.core.store.schema import runs, work_items

__all__ = ["ClaimedItem", "ItemStateChange", "QueueStore", "WorkItemSpec"]


@dataclass
class WorkItemSpec:
    reference: str
    claim_key: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    digest: str = ""
    sort_key: str = ""


@dataclass
class ClaimedItem:
    id: int
    bot: str
    reference: str
    claim_key: str | None
    payload: dict[str, Any]
    attempts: int
    run_id: str


@dataclass
class ItemStateChange:
    """One ``set_item_state`` call, for writing a whole batch with ``set_item_states``.

    ``state`` is where the attempt settled (``bots.core.lifecycle.settle``): an ``ItemState``
    the lifecycle lets an in-progress item settle to; anything else raises."""

    item: ClaimedItem
    state: ItemState
    error: BaseException | None = None
    result: dict[str, Any] | None = None
    not_before: datetime | None = None
    refund_attempt: bool = False


def _crashed_counts(conn: Connection, bot: str, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Counts of dead runs from the items they took (``last_run``): what each settled is committed.

    items: every item the run took; done/exceptions/failed: those it settled so; carried_over: the
    rest (in hand at the kill, now abandoned, or put back to retry), which the next run picks up.
    """
    if not run_ids:
        return {}
    rows = conn.execute(
        select(work_items.c.last_run, work_items.c.state, func.count())
        .where(work_items.c.bot == bot, work_items.c.last_run.in_(list(run_ids)))
        .group_by(work_items.c.last_run, work_items.c.state)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for run_id, state, n in rows:
        c = out.setdefault(run_id, {"items": 0, "done": 0, "exceptions": 0, "failed": 0, "carried_over": 0})
        c["items"] += n
        key = {ItemState.DONE: "done", ItemState.EXCEPTION: "exceptions", ItemState.FAILED: "failed"}.get(state)
        c[key or "carried_over"] += n
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def due_by(moment: str) -> ColumnElement[bool]:
    """Items not deferred past ``moment`` (an ISO time as the store keeps it): ``not_before`` unset or reached."""
    return work_items.c.not_before.is_(None) | (work_items.c.not_before <= moment)


class QueueStore(StoreBase):
    # ---- work items -------------------------------------------------------------------------
    def enqueue(self, bot: str, specs: Iterable[WorkItemSpec], *, reopen_terminal: bool = True,
                conn: Connection | None = None) -> int:
        """Add work items; an existing reference with the same digest is left alone.

        A terminal item whose digest changed (the claim was corrected and reloaded)
        starts a new cycle (``reopen``); one not yet worked is revised (``revise``). Either
        way it is back to ``new`` with a fresh attempt count. Returns how many items were
        added or reopened.
        """
        now = _iso(utcnow())
        specs = list(specs)
        if not specs:
            return 0
        if conn is None:
            with self.begin() as c:
                return self.enqueue(bot, specs, reopen_terminal=reopen_terminal, conn=c)
        refs = [s.reference for s in specs]
        existing: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(refs, 500):
            for ref, state, dig in conn.execute(
                select(work_items.c.reference, work_items.c.state, work_items.c.digest).where(
                    work_items.c.bot == bot, work_items.c.reference.in_(chunk)
                )
            ):
                existing[ref] = (state, dig)
        fresh = item_target(ItemEvent.REOPEN)  # = item_target(REVISE): new, attempts from zero
        movable = item_sources(ItemEvent.REVISE) + (item_sources(ItemEvent.REOPEN) if reopen_terminal else ())
        new_rows, reopen = [], []
        for s in specs:
            row = {
                "bot": bot, "reference": s.reference, "claim_key": s.claim_key,
                "payload": canonical_json(s.payload), "digest": s.digest, "sort_key": s.sort_key,
                "state": fresh, "attempts": 0, "created_at": now, "updated_at": now,
                "cycles": 1,
            }
            if s.reference not in existing:
                new_rows.append(row)
                existing[s.reference] = (fresh, s.digest)
            else:
                state, dig = existing[s.reference]
                if dig != s.digest and state in movable:
                    reopen.append(row)
        added = len(new_rows)
        if new_rows:
            # In claim order: a batch then claims (and settles) neighbouring rows, a few pages of the
            # table and its index rather than a page per item.
            new_rows.sort(key=lambda r: r["sort_key"])
            # ON CONFLICT DO NOTHING: a robot beside this one (PostgreSQL, read committed) may insert
            # the same new items between the read above and this insert; its rows stand.
            # (SQLite's writer lock already keeps them apart.) RETURNING counts the rows this one added.
            insert = self._insert(work_items).on_conflict_do_nothing(index_elements=["bot", "reference"])
            if self.is_sqlite:
                conn.execute(insert, new_rows)
            else:
                added = len(conn.execute(insert.returning(work_items.c.id), new_rows).all())
        for row in reopen:
            conn.execute(
                update(work_items)
                .where(work_items.c.bot == bot, work_items.c.reference == row["reference"])
                .values(payload=row["payload"], digest=row["digest"], sort_key=row["sort_key"],
                        state=fresh, attempts=0, not_before=None, lease_owner=None,
                        lease_expires=None, updated_at=now, finished_at=None,
                        cycles=work_items.c.cycles + 1)
            )
        return added + len(reopen)

    def reopen(self, bot: str, references: Iterable[str], conn: Connection,
               *, as_read: Mapping[str, str] | None = None) -> int:
        """Start a new cycle for terminal items (e.g. a claim due for another status check).

        ``as_read`` (reference → ``updated_at``, from ``reopenable_items``) reopens an item only if
        nobody touched it since it was read: a robot beside this one that claimed and finished it
        meanwhile changed ``updated_at``, and its item stays finished. The check is on the row the
        UPDATE locks, so it holds on PostgreSQL's read-committed as on SQLite.
        """
        refs = list(references)
        n = 0
        now = _iso(utcnow())
        values = dict(state=item_target(ItemEvent.REOPEN), attempts=0, not_before=None, updated_at=now,
                      finished_at=None, cycles=work_items.c.cycles + 1)
        base = update(work_items).where(work_items.c.bot == bot,
                                        work_items.c.state.in_(item_sources(ItemEvent.REOPEN))).values(values)
        for chunk in _chunks(refs, 500):
            if as_read is None:
                stmt = base.where(work_items.c.reference.in_(chunk))
            else:
                stmt = base.where(tuple_(work_items.c.reference, work_items.c.updated_at).in_(
                    [(r, as_read[r]) for r in chunk]))
            n += conn.execute(stmt).rowcount
        return n

    def reopenable_items(self, bot: str, states: Sequence[str] | None = None) -> dict[str, str]:
        """Reference → ``updated_at`` of the bot's items ``reopen`` can start again (or those of
        these of its states), as of now: read before deciding which to reopen, and pass to
        ``reopen(as_read=...)``."""
        wanted = [s for s in item_sources(ItemEvent.REOPEN) if states is None or s in states]
        with self.read() as conn:
            return dict(conn.execute(select(work_items.c.reference, work_items.c.updated_at).where(
                work_items.c.bot == bot, work_items.c.state.in_(wanted))).all())

    def recover_abandoned(self, bot: str) -> int:
        """Mark in-progress items of dead runs, or with expired leases, ``abandoned``.

        A run on this host whose process is gone is dead now, whatever its lease
        says: that is what lets a rerun right after a kill finish the work. A dead
        run's counts are recomputed from its items (``_crashed_counts``): it never
        reached ``finish_run``, and run history must not say 0 for work it committed.
        """
        now = utcnow()
        with self.begin() as conn:
            running = conn.execute(
                select(runs.c.run_id, runs.c.host, runs.c.pid).where(
                    runs.c.bot == bot, runs.c.status == RunStatus.RUNNING
                )
            ).all()
            dead = [r.run_id for r in running if r.host == self.host and r.pid and not _pid_alive(r.pid)]
            cond = work_items.c.lease_expires < _iso(now)
            if dead:
                cond = cond | work_items.c.lease_owner.in_(dead)
            abandoned = conn.execute(
                update(work_items)
                .where(work_items.c.bot == bot, work_items.c.state.in_(item_sources(ItemEvent.ABANDON)), cond)
                .values(state=item_target(ItemEvent.ABANDON), lease_owner=None, lease_expires=None,
                        updated_at=_iso(now))
            ).rowcount
            counts = _crashed_counts(conn, bot, dead)
            for run_id in dead:
                conn.execute(
                    update(runs).where(runs.c.run_id == run_id).values(
                        status=RunStatus.CRASHED, ended_at=_iso(now),
                        message="process ended without finishing the run (killed or crashed)",
                        **counts.get(run_id, {}),
                    )
                )
            return abandoned

    def claim_items(self, bot: str, run_id: str, *, limit: int, lease_seconds: int,
                    only_refs: Sequence[str] | None = None) -> list[ClaimedItem]:
        now = utcnow()
        now_s = _iso(now)
        with self.begin() as conn:
            claimable = item_sources(ItemEvent.CLAIM)

            def candidates(states: Sequence[ItemState]) -> Any:
                q = (
                    select(work_items.c.id, work_items.c.sort_key)
                    .where(
                        work_items.c.bot == bot,
                        work_items.c.state.in_(states),
                        due_by(now_s),
                        (work_items.c.last_run.is_(None)) | (work_items.c.last_run != run_id),
                    )
                    .order_by(work_items.c.sort_key, work_items.c.id)
                    .limit(limit)
                )
                if only_refs is not None:
                    q = q.where(work_items.c.reference.in_(list(only_refs)))
                if not self.is_sqlite:
                    q = q.with_for_update(skip_locked=True)
                return conn.execute(q).all()

            if self.is_sqlite:
                # One query per state walks ix_work_items_claim in order; with ``state IN (…)``
                # SQLite sorts every claimable item in a temp B-tree on each call instead.
                merged = sorted((r.sort_key, r.id) for st in claimable for r in candidates([st]))
                ids = [i for _, i in merged[:limit]]
            else:
                ids = [r.id for r in candidates(claimable)]
            if not ids:
                return []
            # One statement claims them and returns what the run needs (SQLite ≥ 3.35, PostgreSQL).
            rows = conn.execute(
                update(work_items)
                .where(work_items.c.id.in_(ids))
                .values(state=item_target(ItemEvent.CLAIM), lease_owner=run_id, last_run=run_id,
                        lease_expires=_iso(now + timedelta(seconds=lease_seconds)),
                        attempts=work_items.c.attempts + 1, updated_at=now_s)
                .returning(work_items.c.id, work_items.c.sort_key, work_items.c.reference, work_items.c.claim_key,
                           work_items.c.payload, work_items.c.attempts)
            ).all()
        rows.sort(key=lambda r: (r.sort_key, r.id))
        return [ClaimedItem(r.id, bot, r.reference, r.claim_key, json.loads(r.payload), r.attempts, run_id)
                for r in rows]

    def renew_leases(self, run_id: str, lease_seconds: int) -> None:
        with self.begin() as conn:
            conn.execute(
                update(work_items)
                .where(work_items.c.lease_owner == run_id, work_items.c.state == ItemState.IN_PROGRESS)
                .values(lease_expires=_iso(utcnow() + timedelta(seconds=lease_seconds)))
            )

    def release_items(self, run_id: str, item_ids: Sequence[int]) -> None:
        """Give back claimed but unstarted items (a clean stop): no attempt spent."""
        if not item_ids:
            return
        with self.begin() as conn:
            conn.execute(
                update(work_items)
                .where(work_items.c.id.in_(list(item_ids)), work_items.c.lease_owner == run_id,
                       work_items.c.state.in_(item_sources(ItemEvent.RELEASE)))
                .values(state=item_target(ItemEvent.RELEASE), lease_owner=None, lease_expires=None, last_run=None,
                        attempts=work_items.c.attempts - 1, updated_at=_iso(utcnow()))
            )

    def abandon_run_items(self, run_id: str, reason: str) -> int:
        """Items a broken run still holds go back to the queue at once (the attempt counts)."""
        with self.begin() as conn:
            return conn.execute(
                update(work_items)
                .where(work_items.c.lease_owner == run_id, work_items.c.state.in_(item_sources(ItemEvent.ABANDON)))
                .values(state=item_target(ItemEvent.ABANDON), lease_owner=None, lease_expires=None,
                        last_error=reason[:2000], updated_at=_iso(utcnow()))
            ).rowcount

    def set_item_state(self, conn: Connection, item: ClaimedItem, state: ItemState, *,
                       error: BaseException | None = None, result: dict[str, Any] | None = None,
                       not_before: datetime | None = None, refund_attempt: bool = False) -> None:
        self.set_item_states(conn, [ItemStateChange(item, state, error, result, not_before, refund_attempt)])

    def set_item_states(self, conn: Connection, changes: Sequence[ItemStateChange]) -> None:
        """Settle items this run holds: one executemany per shape of change, not one UPDATE each.

        Each new state is checked against the lifecycle (an in-progress item settling), so a
        misspelt or impossible state fails here instead of stranding the item.
        """
        now = _iso(utcnow())
        groups: dict[tuple[tuple[str, ...], bool], list[dict[str, Any]]] = {}
        for ch in changes:
            values: dict[str, Any] = {
                "state": check_item_move(ItemState.IN_PROGRESS, ch.state, ItemEvent.SETTLE),
                "updated_at": now, "lease_owner": None, "lease_expires": None,
                "not_before": _iso(ch.not_before) if ch.not_before else None,
            }
            if ch.state in ItemState.TERMINAL:
                values["finished_at"] = now
            if ch.error is not None:
                values["last_error"] = str(ch.error)[:2000]
                values["last_error_type"] = type(ch.error).__name__
            if ch.result is not None:
                values["result"] = canonical_json(ch.result)
            params = {f"v_{k}": v for k, v in values.items()}
            params["w_id"], params["w_owner"] = ch.item.id, ch.item.run_id
            groups.setdefault((tuple(values), ch.refund_attempt), []).append(params)
        for (keys, refund), rows in groups.items():
            if self.is_sqlite:  # plain tuples to the driver: a scan settles tens of thousands a run
                sets = [f"{k} = ?" for k in keys] + (["attempts = attempts - 1"] if refund else [])
                conn.exec_driver_sql(f"UPDATE work_items SET {', '.join(sets)} WHERE id = ? AND lease_owner = ?",
                                     [(*(r[f"v_{k}"] for k in keys), r["w_id"], r["w_owner"]) for r in rows])
                continue
            set_: dict[str, Any] = {k: bindparam(f"v_{k}") for k in keys}
            if refund:
                set_["attempts"] = work_items.c.attempts - 1
            conn.execute(
                update(work_items)
                .where(work_items.c.id == bindparam("w_id"), work_items.c.lease_owner == bindparam("w_owner"))
                .values(set_),
                rows,
            )

    def item_counts(self, bot: str | None = None) -> dict[str, int]:
        q = select(work_items.c.state, func.count()).group_by(work_items.c.state)
        if bot:
            q = q.where(work_items.c.bot == bot)
        with self.read() as conn:
            return {s: n for s, n in conn.execute(q)}
