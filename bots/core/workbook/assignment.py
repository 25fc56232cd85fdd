"""Every open row has an owner: Assigned To filled from the team roster (``bots.core.team``).

Run at each merge, after the coders' edits are stored, so a name a coder typed is seen first:

- an open row with an empty Assigned To goes to a present person who can take it: ``Senior``
  rows to seniors of its queue, ``Entry`` rows to coders of its queue (Input Problems, the
  operators' sheet, to operators), the one with the fewest open rows in that queue first
  (then fewest open rows overall, then roster order), so work stays balanced within one row
  per person per queue;
- an open row the bots assigned (Assigned To still equals the bots' choice) whose person is
  away today, or no longer takes such rows, moves the same way to a present colleague of the
  same queue and role; a name a coder chose is never replaced;
- a row nobody present can take gets the Bot Check :data:`UNOWNED_CHECK` (and is counted on the
  Summary) until someone is back or a person types a name.

Each (re)assignment is an audit record ``row_assigned`` (who from, who to, why; staff names only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bots.core.store import AuditEntry
from bots.core.team import Person, Role, Team
from bots.core.workbook.checks import UNOWNED_CHECK
from bots.core.workbook.layout import INPUT_PROBLEMS
from bots.core.workbook.summary import is_open

__all__ = ["UNOWNED_CHECK", "Owners", "assign_owners", "bot_assigned", "roles_for"]


@dataclass
class Owners:
    """What one pass decided: new owners by exception id, their audit records, unowned rows' Bot Checks."""

    updates: dict[str, str] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    checks: dict[str, list[str]] = field(default_factory=dict)


def roles_for(row: dict[str, Any]) -> tuple[Role, ...]:
    """Who may own a row: seniors for Senior rows, operators for Input Problems, else coders."""
    if row["review_level"] == "Senior":
        return (Role.SENIOR,)
    if row["queue"] == INPUT_PROBLEMS:
        return (Role.OPERATOR,)
    return (Role.CODER,)


def bot_assigned(row: dict[str, Any]) -> bool:
    """Assigned To still shows the bots' choice (so the bots may move the row)."""
    return bool(row.get("assigned_by_bot")) and (row["assigned_to"] or "").strip() == row["assigned_by_bot"]


def _candidates(team: Team, row: dict[str, Any]) -> list[Person]:
    roles = roles_for(row)
    return [p for p in team.people if any(p.has(r) for r in roles) and p.works(row["queue"])]


def assign_owners(rows: Iterable[dict[str, Any]], team: Team | None, today: date, now: str) -> Owners:
    """Owners for the open rows of ``rows`` (updated in place: ``assigned_to``, ``assigned_by_bot``,
    ``written_at``); see the module docstring. ``team`` None: nothing happens."""
    out = Owners()
    if team is None:
        return out
    open_rows = sorted((r for r in rows if is_open(r)), key=lambda r: (r["first_seen"] or "", r["exception_id"]))
    per_queue: dict[tuple[str, str], int] = {}
    total: dict[str, int] = {}
    for row in open_rows:
        name = (row["assigned_to"] or "").strip()
        if name:
            per_queue[(name, row["queue"])] = per_queue.get((name, row["queue"]), 0) + 1
            total[name] = total.get(name, 0) + 1
    order = {p.name: i for i, p in enumerate(team.people)}

    def take(row: dict[str, Any], why: str) -> None:
        present = [p for p in _candidates(team, row) if p.present(today)]
        before = (row["assigned_to"] or "").strip() or None
        if not present:
            level = "Senior" if row["review_level"] == "Senior" else "Entry"
            who = (f"{before} is away and " if before else "") + "no one"
            out.checks[row["exception_id"]] = [
                f"{UNOWNED_CHECK} ({who} on the roster who works {row['queue']} {level} rows is present today): "
                "type a name in Assigned To"]
            return
        chosen = min(present, key=lambda p: (per_queue.get((p.name, row["queue"]), 0), total.get(p.name, 0),
                                             order[p.name]))
        if before:
            per_queue[(before, row["queue"])] -= 1
            total[before] -= 1
        per_queue[(chosen.name, row["queue"])] = per_queue.get((chosen.name, row["queue"]), 0) + 1
        total[chosen.name] = total.get(chosen.name, 0) + 1
        row.update(assigned_to=chosen.name, assigned_by_bot=chosen.name, written_at=None)
        out.updates[row["exception_id"]] = chosen.name
        out.audit.append(AuditEntry(
            action="row_assigned", result="reassigned" if before else "assigned", bot="workbook",
            claim_id=row["claim_id"], item_ref=row["exception_id"], ts=now,
            detail={"from": before, "to": chosen.name, "why": why, "queue": row["queue"],
                    "review_level": row["review_level"], "day": today.isoformat()}))

    # Rows to move first, so the rows they free up are counted before new rows are balanced.
    for row in open_rows:
        if not bot_assigned(row):
            continue
        person = team.get(row["assigned_to"])
        if person is None or person not in _candidates(team, row):
            take(row, "no longer takes these rows")
        elif not person.present(today):
            take(row, "away")
    for row in open_rows:
        if not (row["assigned_to"] or "").strip():
            take(row, "new")
    return out
