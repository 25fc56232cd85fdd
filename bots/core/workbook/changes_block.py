"""The Summary's block on the latest rule, table or payer profile change and its effect.

A supervisor opening the workbook the day a CMS table or a rule was changed sees what changed and
which rows it raised and cleared, without the command line (``bots edits changes`` has the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bots.core.store.changes import describe_change

__all__ = ["change_rows"]


def change_rows(change: dict[str, Any] | None, cell: Callable[..., Any]) -> list[list[Any]]:
    """Rows to append to the Summary for ``change`` (``Store.latest_change``); none without one."""
    if change is None:
        return []
    rows = [[], [cell("Latest rule or table change", bold=True), cell(f"change {change['id']}, {change['created_at']} UTC"),
                 cell(describe_change(change))]]
    effect = change["effect"]
    if change["kind"] == "payer_profile":
        return rows
    if effect is None:
        rows.append([cell("Its effect"), cell("pending"),
                     cell(f"{change['refs']} unsubmitted claim(s) are scanned again by the next claim_edits run")])
        return rows
    raised = sum(len(ids) for ids in effect["raised"].values())
    cleared = sum(len(ids) for ids in effect["cleared"].values())
    rows.append([cell("Its effect"), cell(f"{raised} raised, {cleared} cleared"),
                 cell(f"{effect['rescanned']} claim(s) scanned again")])
    for key, word in (("raised", "raised"), ("cleared", "cleared")):
        for rule, ids in sorted(effect[key].items()):
            rows.append([cell(f"  {word}: {rule}"), len(ids)])
    return rows
