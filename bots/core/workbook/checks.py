"""Bot Check rules for the coder's side of a workbook row: what a Resolved row must carry
before it may be applied, and how our messages merge with other bots' in the Bot Check cell.

Kept apart from the merge and write in ``sync`` because these are the rules a coder meets
(and a reviewer reads), not file handling. Whether a row is then *ready* is the row
lifecycle's call (``lifecycle.ready_to_sync``), which needs these messages to be empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bots.core.lifecycle import RESOLUTION_EVIDENCE, CoderStatus
from bots.core.workbook.layout import COLUMNS, STATUSES, WorkbookLayout

__all__ = ["ESCALATION_CHECK", "EVIDENCE", "ID_CHECK", "MISSING_CHECK", "NOT_SENIOR", "OWNER_CHECK", "REWORK_FIELDS", "SIGNOFF_CHECK",
           "UNOWNED_CHECK", "evidence_problems", "is_signoff_problem", "merged_bot_check",
           "same_entry"]

_HEADERS = {c.field: c.header for c in COLUMNS}
EVIDENCE = tuple((name, _HEADERS[name]) for name in RESOLUTION_EVIDENCE)  # (field, header) a Resolved row needs
# A coder changing any of these has re-worked the row, which answers bot checks
# such as "recurred after it was resolved and synced"; Assigned To alone does not.
REWORK_FIELDS = ("status", "resolution", "resolution_note", "resolved_by", "resolved_on", "escalated_to")
# Messages about the row itself rather than its entries (``identity``): an Exception ID that is
# on more than one row or on another claim's row, and a row the file lost and the bots restored.
ID_CHECK = "Exception ID "
MISSING_CHECK = "This row was missing from the workbook"
# An open row no one present on the team roster can take (``assignment``).
UNOWNED_CHECK = "No one present can take this row"
OWNER_CHECK = "Assigned To "  # a name not on the roster: as good as no owner
# Who resolved or took a row, checked against the team roster (``signoff``).
SIGNOFF_CHECK = "Resolved By "
ESCALATION_CHECK = "Escalated "
NOT_SENIOR = "is not a senior: a Senior row needs a senior's sign-off"
# Our own messages start with one of these; each merge recomputes them, so they go once the
# cause is fixed (other bots' messages stay until a coder re-works the row).
# (Messages must not contain "; ": that separates the messages in one cell.)
_OWN_CHECKS = ("missing ", "Status '", "Resolution '", ID_CHECK, MISSING_CHECK, UNOWNED_CHECK, SIGNOFF_CHECK,
               ESCALATION_CHECK, OWNER_CHECK)


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def evidence_problems(row: dict[str, Any], layout: WorkbookLayout) -> list[str]:
    """Bot Check messages for a row's coder entries (empty: nothing to fix).

    A ``Resolved`` row needs the mandatory evidence, and values the billing sync can
    map; a pasted value the dropdown would have refused is caught here.
    """
    problems = []
    status = row["status"]
    if status and status not in STATUSES:
        problems.append(f"Status '{status}' is not one of {', '.join(STATUSES)}")
    if status == CoderStatus.RESOLVED:
        missing = [header for name, header in EVIDENCE if not row[name]]
        if missing:
            problems.append("missing " + _join(missing))
        resolution = row["resolution"]
        if resolution and resolution not in layout.choices(row["queue"]):
            problems.append(f"Resolution '{resolution}' is not a {row['queue']} choice")
    return problems


def is_signoff_problem(message: str) -> bool:
    """A Senior row resolved without a senior (``signoff``): an audit evidence exception."""
    return message.startswith(SIGNOFF_CHECK) and NOT_SENIOR in message


def merged_bot_check(current: str | None, own: list[str], reworked: bool) -> str | None:
    """Our evidence messages replace our old ones; other bots' messages stay until a
    coder re-works the row."""
    kept = [] if reworked else [p for p in (current or "").split("; ") if p and not p.startswith(_OWN_CHECKS)]
    return "; ".join(kept + own) or None


def same_entry(field_name: str, a: str | None, b: str | None) -> bool:
    if field_name == "status":  # a blank Status is shown as New
        return (a or STATUSES[0]) == (b or STATUSES[0])
    return a == b
