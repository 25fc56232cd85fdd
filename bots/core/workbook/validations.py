"""What a queue sheet's coder cells accept: the Status and Resolution dropdowns, the date checks,
the appeal checklist ticks and (through ``lists``) the person columns' names.

Data validation does not stop a paste, so none of this is trusted: the merge checks every entry
again (``checks``). Archive files (``archive``) get none of it: their cells are locked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from openpyxl.worksheet.datavalidation import DataValidation

from bots.core.workbook.layout import APPEAL_DOC_PREFIX, STATUSES, WorkbookLayout
from bots.core.workbook.lists import person_validations

__all__ = ["EXCEL_EPOCH_ORDINAL", "MAX_ROW", "add_validations"]

EXCEL_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()
MAX_ROW = 1_048_576


def add_validations(ws: Any, queue: str, layout: WorkbookLayout, by_field: Mapping[str, str],
                    headers: Mapping[str, str], names: str | None = None) -> None:
    """The sheet's validations; ``by_field``: field → column letters, ``headers``: field → header,
    ``names``: the Lists sheet range of the roster's names (None: free text)."""
    person_validations(ws, by_field, headers, names)

    def whole(field_name: str) -> str:
        letter = by_field[field_name]
        return f"{letter}2:{letter}{MAX_ROW}"

    status = DataValidation(type="list", formula1='"{}"'.format(",".join(STATUSES)), allow_blank=True,
                            showErrorMessage=True, errorTitle="Status",
                            error="Choose New, In Progress, Resolved or Escalated.")
    status.add(whole("status"))
    resolution = DataValidation(type="list", formula1='"{}"'.format(",".join(layout.choices(queue))),
                                allow_blank=True, showErrorMessage=True, errorTitle="Resolution",
                                error=f"Choose one of the {queue} resolutions from the list.")
    resolution.add(whole("resolution"))
    resolved_on = DataValidation(type="date", operator="between",
                                 formula1=str(date(2000, 1, 1).toordinal() - EXCEL_EPOCH_ORDINAL),
                                 formula2=str(date(2099, 12, 31).toordinal() - EXCEL_EPOCH_ORDINAL),
                                 allow_blank=True, showErrorMessage=True, errorTitle="Resolved On",
                                 error="Enter a date, e.g. 2026-11-03.")
    resolved_on.add(whole("resolved_on"))
    for dv in (status, resolution, resolved_on):
        ws.data_validations.append(dv)
    if "submitted_on" in by_field:  # the Appeal Preparation sheet
        submitted = DataValidation(type="date", operator="between", formula1=resolved_on.formula1,
                                   formula2=resolved_on.formula2, allow_blank=True, showErrorMessage=True,
                                   errorTitle="Submitted On", error="Enter a date, e.g. 2026-11-03.")
        submitted.add(whole("submitted_on"))
        ticks = DataValidation(type="list", formula1='"Yes"', allow_blank=True, showErrorMessage=True,
                               errorTitle="Checklist", error="Choose Yes when the document is in hand.")
        for name in by_field:
            if name.startswith(APPEAL_DOC_PREFIX):
                ticks.add(whole(name))
        ws.data_validations.append(submitted)
        if ticks.sqref:
            ws.data_validations.append(ticks)
