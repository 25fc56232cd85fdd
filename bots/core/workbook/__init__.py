"""The exception workbook coders work in Excel or LibreOffice.

``sync`` merges coders' edits back by Exception ID and writes the file; ``layout`` is its
columns, sheets and dropdowns (``config/workbook.toml``); ``render`` writes the xlsx;
``summary`` counts and draws the Summary sheet; ``reader`` reads coder columns back fast;
``identity`` decides which store row each file row is (a copied ID merges nothing);
``checks`` holds the Bot Check rules for coder entries; ``archive`` moves closed rows to monthly
read-only files; ``notices`` words what a write could not do; ``sheets`` lays the rows out per
sheet; ``status`` reads the state for ``bots workbook status``; ``validations`` are the
dropdowns; ``trends`` draws the Trends sheet (the leaders' dashboard figures of the last weeks);
``files`` does atomic replacement, backups and the writer lock. With a team roster:
``assignment`` (owners), ``signoff`` (senior sign-off, escalation), ``lists`` (the hidden sheet of
names the dropdowns read); with quality sampling: ``review`` (the Quality Review merge) and
``quality_sheet`` (its drawing).

Importing the package imports none of them: a module that needs only the layout (a bot, the
metrics) does not load openpyxl and the whole merge. The names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MergeResult", "WorkbookResult", "load_layout", "merge_coder_edits", "sync_workbook", "workbook_status"]

_HOME = {"load_layout": "layout", "MergeResult": "sync", "WorkbookResult": "sync", "merge_coder_edits": "sync",
         "sync_workbook": "sync", "workbook_status": "status"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
