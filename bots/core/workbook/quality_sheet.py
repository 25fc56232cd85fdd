"""Draw the Quality Review sheet: one row per sampled decision (``review``), the reviewer's
columns unlocked with dropdowns (QA Reviewer from the roster's qa and senior people, QA Result,
Finding Category from ``config/quality.toml``), everything else protected.

Samples are few next to exception rows, so this sheet is written cell by cell with openpyxl's
write-only mode, not spliced like the queue sheets (``render``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.protection import SheetProtection

from bots.core.lifecycle import RowState
from bots.core.workbook.layout import QA_RESULTS, QUALITY_COLUMNS, QUALITY_SHEET, column_letter, print_setup

__all__ = ["quality_sheet"]

MAX_ROW = 1_048_576
_HEADER_FILL = {"bot": "1F4E78", "coder": "375623"}
_OPEN, _CLOSED = "DDEBF7", "EDEDED"


def _link(path: str, base_dir: Path) -> str:
    folder, name = os.path.split(path)
    try:
        shown = os.path.relpath(os.path.abspath(folder), os.path.abspath(base_dir))
    except ValueError:
        shown = os.path.abspath(folder)
    target = os.path.join(shown, name).replace('"', '""')
    return f'=HYPERLINK("{target}","{name.replace(chr(34), chr(34) * 2)}")'


def quality_sheet(wb: Workbook, samples: Sequence[dict[str, Any]], written: str, base_dir: Path, *,
                  reviewers: str | None, categories: str | None) -> Any:
    """The sheet; ``reviewers`` and ``categories`` are the Lists ranges for the dropdowns (None: free text)."""
    ws = wb.create_sheet(QUALITY_SHEET)
    letters = {c.field: column_letter(i) for i, c in enumerate(QUALITY_COLUMNS, 1)}
    for c in QUALITY_COLUMNS:
        dim = ws.column_dimensions[letters[c.field]]
        dim.width = c.max_width or c.width if c.field in ("decision_ref", "evidence") else c.width
        if c.coder:
            dim.protection = Protection(locked=False)
        if c.bookkeeping:
            dim.outlineLevel = 1
            dim.hidden = True
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{letters[QUALITY_COLUMNS[-1].field]}{len(samples) + 1}"
    print_setup(ws, written)
    validations = [("qa_result", '"{}"'.format(",".join(QA_RESULTS)), "Choose Pass or Fail."),
                   ("qa_reviewer", reviewers, "Choose a qa or senior reviewer from the team roster."),
                   ("finding_category", categories, "Choose a finding category from the list.")]
    for name, formula, error in validations:
        if formula:
            dv = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=True,
                                errorTitle=next(c.header for c in QUALITY_COLUMNS if c.field == name), error=error)
            dv.add(f"{letters[name]}2:{letters[name]}{MAX_ROW}")
            ws.data_validations.append(dv)
    ws.protection = SheetProtection(sheet=True, sort=False, autoFilter=False, formatCells=False,
                                    formatColumns=False, formatRows=False, selectLockedCells=False,
                                    selectUnlockedCells=False)
    header = []
    for c in QUALITY_COLUMNS:
        cell = WriteOnlyCell(ws, value=c.header)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor=_HEADER_FILL["coder" if c.coder else "bot"])
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        if c.note:
            cell.comment = Comment(c.note, "rcm-bots", width=260, height=110)
        header.append(cell)
    ws.append(header)
    for s in samples:
        closed = s["bot_status"] in RowState.CLOSED
        out = []
        for c in QUALITY_COLUMNS:
            value = s.get(c.field)
            if c.kind == "link" and value:
                value = _link(str(value), base_dir)
            cell = WriteOnlyCell(ws, value=value)
            cell.alignment = Alignment(vertical="top", wrap_text=c.wrap)
            if c.coder:
                cell.protection = Protection(locked=False)
            else:
                cell.fill = PatternFill("solid", fgColor=_CLOSED if closed else _OPEN)
                if c.field == "bot_check":
                    cell.font = Font(color="C00000", bold=True)
                elif closed:
                    cell.font = Font(color="808080")
            out.append(cell)
        ws.append(out)
    return ws
