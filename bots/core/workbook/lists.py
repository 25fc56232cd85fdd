"""The hidden Lists sheet: the team roster's names, which the person columns' dropdowns read.

An inline dropdown list is capped at 255 characters by Excel, too short for a team, so the names
go on a sheet of their own and the validations refer to that range. The sheet is hidden and
protected (the roster is changed in ``config/team.toml``, not here) and the reader skips it.
Excel and LibreOffice both keep a list validation that refers to another sheet when they save.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.protection import SheetProtection

from bots.core.workbook.layout import COLUMNS, LISTS_SHEET

__all__ = ["names_range", "names_sheet", "person_validations"]

PERSON_FIELDS = tuple(c.field for c in COLUMNS if c.person)
MAX_ROW = 1_048_576


def names_range(names: Sequence[str], column: str = "A") -> str | None:
    """The Lists range holding ``names`` (from row 2), or None when there are none."""
    return f"{LISTS_SHEET}!${column}$2:${column}${len(names) + 1}" if names else None


def names_sheet(wb: Workbook, columns: Mapping[str, Sequence[str]]) -> Any:
    """The hidden Lists sheet: one column per list (header, then the names), in order A, B, …"""
    ws = wb.create_sheet(LISTS_SHEET)
    lists = list(columns.items())
    ws.append([_bold(ws, header) for header, _ in lists])
    for i in range(max((len(names) for _, names in lists), default=0)):
        ws.append([names[i] if i < len(names) else None for _, names in lists])
    ws.sheet_state = "hidden"
    ws.protection = SheetProtection(sheet=True)
    return ws


def _bold(ws: Any, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=text)
    cell.font = Font(bold=True)
    return cell


def person_validations(ws: Any, letters: Mapping[str, str], headers: Mapping[str, str], ref: str | None,
                       fields: Sequence[str] = PERSON_FIELDS) -> None:
    """A dropdown of the roster's names on each person column (``letters``: field -> column letter)."""
    if ref is None:
        return
    for name in fields:
        if name not in letters:
            continue
        dv = DataValidation(type="list", formula1=ref, allow_blank=True, showErrorMessage=True,
                            errorTitle=headers[name], error="Choose a name from the team roster (config/team.toml).")
        dv.add(f"{letters[name]}2:{letters[name]}{MAX_ROW}")
        ws.data_validations.append(dv)
