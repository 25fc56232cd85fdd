"""Which rows go on which sheet of the live workbook, in what order, and what its dropdowns and
extra sheets list: the rows of a merge (``sync.MergeResult``) laid out for ``render``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bots.core.lifecycle import APPEAL_PREPARATION
from bots.core.store import utcnow
from bots.core.team import Role
from bots.core.workbook.appeals import appeal_view
from bots.core.workbook.layout import QUEUE_SHEETS, sheet_title
from bots.core.workbook.render import SheetRows

if TYPE_CHECKING:
    from bots.core.workbook.sync import MergeResult

__all__ = ["appeal_items", "queue_sheets", "sheet_lists"]


def queue_sheets(merged: MergeResult, problems: list[str]) -> list[SheetRows]:
    """Rows per sheet. Rows already in the workbook keep the coders' order (a held row its own
    place, standing in for the store row it shows); new and restored rows follow, oldest first."""
    order = merged.readback.order if merged.readback else {}
    by_sheet: dict[str, SheetRows] = {q: SheetRows(q, q, []) for q in QUEUE_SHEETS}
    shown = [r for r in merged.rows if r["exception_id"] not in merged.covered] + merged.held
    items, today = appeal_items(merged), merged.today or utcnow().date()
    for row in shown:
        title = sheet_title(row["queue"])
        if title == APPEAL_PREPARATION:  # the appeal's own cells beside the row's
            row = appeal_view(row, merged.appeals.get(row["exception_id"]), items, today)
        if title not in by_sheet:
            by_sheet[title] = SheetRows(title, row["queue"], [])
        by_sheet[title].rows.append(row)
    unplaced = float("inf")

    def place(r: dict[str, Any]) -> tuple[Any, ...]:
        pos = r.get("_pos", order.get(r["exception_id"], unplaced))
        return pos, r["first_seen"] or "", r["exception_id"]

    for sheet in by_sheet.values():
        sheet.rows.sort(key=place)
    extra = [t for t in by_sheet if t not in QUEUE_SHEETS]
    for title in extra:
        problems.append(f"queue {by_sheet[title].queue!r} is not one of the workbook's sheets: its "
                        f"{len(by_sheet[title].rows)} row(s) are on sheet {title!r}")
    return [by_sheet[q] for q in QUEUE_SHEETS] + [by_sheet[t] for t in sorted(extra)]


def appeal_items(merged: MergeResult) -> list[str]:
    """The Appeal Preparation sheet's checklist columns: config/appeals.toml's items, then any an
    appeal still needs that the file no longer lists (a checklist is fixed when its appeal opens)."""
    items = list(merged.appeals_config.items) if merged.appeals_config else []
    for a in merged.appeals.values():
        items.extend(i for i in json.loads(a["items"] or "[]") if i not in items)
    return items


def sheet_lists(merged: MergeResult) -> dict[str, Any]:
    """What the dropdowns offer and the Quality Review sheet shows (``render_workbook``'s keywords)."""
    team = merged.team
    return {"people": team.names if team else (),
            "quality": merged.samples if merged.quality is not None else None,
            "reviewers": [p.name for p in team.with_role(Role.QA, Role.SENIOR)] if team else (),
            "categories": merged.quality.finding_categories if merged.quality else (),
            "appeal_items": appeal_items(merged)}
