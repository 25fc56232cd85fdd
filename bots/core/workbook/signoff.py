"""Senior sign-off and escalation, enforced against the team roster (``bots.core.team``).

A spreadsheet cannot stop a coder from typing Resolved on a Senior row, so the bots refuse to act
on it instead: a Senior row resolved by someone without the ``senior`` role gets a Bot Check,
which keeps it from syncing (``lifecycle.ready_to_sync`` needs an empty Bot Check), and each time
that starts it is an audit record ``senior_signoff_missing``: an audit evidence exception. A
name that is not on the roster at all is refused the same way (a pasted value escapes the
dropdown).

``Status = Escalated`` needs Escalated To (a senior) and a note in Resolution Note. A complete
escalation is taken once (``escalated_at``): an Entry row becomes Senior and stays Senior on
reruns, so it joins the senior backlog; a row the bots had assigned moves to that senior; and it
is an audit record ``row_escalated``.

Without a roster none of this applies (there is no one to call a senior).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bots.core.lifecycle import CoderStatus
from bots.core.store import AuditEntry
from bots.core.team import Role, Team
from bots.core.workbook.assignment import bot_assigned
from bots.core.workbook.checks import ESCALATION_CHECK, NOT_SENIOR, OWNER_CHECK, SIGNOFF_CHECK
from bots.core.workbook.summary import is_open

__all__ = ["SENIOR", "Escalations", "signoff_problems", "take_escalations"]

SENIOR = "Senior"


def _name(value: str | None) -> str:
    return (value or "").strip()


def signoff_problems(row: dict[str, Any], team: Team | None) -> list[str]:
    """Bot Check messages about who resolved or took a row (empty: nothing to fix)."""
    if team is None:
        return []
    problems = []
    status = row["status"]
    owner = _name(row["assigned_to"])
    if owner and is_open(row) and team.get(owner) is None:  # a pasted or typed name: no one owns the row
        problems.append(f"{OWNER_CHECK}'{owner}' is not on the team roster: choose a name from the list")
    resolver = _name(row["resolved_by"])
    if status == CoderStatus.RESOLVED and resolver:
        if team.get(resolver) is None:
            problems.append(f"{SIGNOFF_CHECK}'{resolver}' is not on the team roster: choose a name from the list")
        elif row["review_level"] == SENIOR and not team.has_role(resolver, Role.SENIOR):
            problems.append(f"{SIGNOFF_CHECK}'{resolver}' {NOT_SENIOR} (choose a senior in Resolved By, or set "
                            "Status to Escalated and choose one in Escalated To)")
    if status == CoderStatus.ESCALATED:
        senior = _name(row.get("escalated_to"))
        if not senior:
            problems.append(f"{ESCALATION_CHECK}without Escalated To: choose the senior who takes the row")
        elif not team.has_role(senior, Role.SENIOR):
            problems.append(f"{ESCALATION_CHECK}To '{senior}' is not a senior on the team roster")
        if not _name(row["resolution_note"]):
            problems.append(f"{ESCALATION_CHECK}without a note: say why in Resolution Note")
    return problems


@dataclass
class Escalations:
    """Escalations taken in one merge: rows made Senior, owners moved, audit records."""

    senior: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)


def take_escalations(rows: list[dict[str, Any]], team: Team | None, now: str) -> Escalations:
    """Complete escalations not yet taken (rows updated in place)."""
    out = Escalations()
    if team is None:
        return out
    for row in rows:
        if row["status"] != CoderStatus.ESCALATED or row.get("escalated_at"):
            continue
        if any(p.startswith(ESCALATION_CHECK) for p in signoff_problems(row, team)):
            continue
        senior = _name(row["escalated_to"])
        was = row["review_level"]
        row.update(review_level=SENIOR, escalated_at=now, written_at=None)
        out.senior.append(row["exception_id"])
        detail = {"from_level": was, "to": senior, "by": _name(row["assigned_to"]) or None, "queue": row["queue"]}
        if bot_assigned(row) and _name(row["assigned_to"]) != senior:
            out.owners[row["exception_id"]] = senior
            out.audit.append(AuditEntry(
                action="row_assigned", result="reassigned", bot="workbook", claim_id=row["claim_id"],
                item_ref=row["exception_id"], ts=now,
                detail={"from": _name(row["assigned_to"]), "to": senior, "why": "escalated", "queue": row["queue"],
                        "review_level": SENIOR}))
            row.update(assigned_to=senior, assigned_by_bot=senior)
        out.audit.append(AuditEntry(action="row_escalated", result="escalated", bot="workbook",
                                    claim_id=row["claim_id"], item_ref=row["exception_id"], ts=now, detail=detail))
    return out
