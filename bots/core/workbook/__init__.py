"""The exception workbook coders work in Excel or LibreOffice.

``sync`` merges coders' edits back by Exception ID and writes the file; ``layout`` is its
columns, sheets and dropdowns (``config/workbook.toml``); ``render`` writes the xlsx;
``summary`` counts and draws the Summary sheet; ``reader`` reads coder columns back fast;
``identity`` decides which store row each file row is (a copied ID merges nothing);
``checks`` holds the Bot Check rules for coder entries; ``trends`` draws the Trends sheet (the
leaders' dashboard figures of the last weeks); ``files`` does atomic replacement,
backups and the writer lock. With a team roster: ``assignment`` (owners), ``signoff`` (senior
sign-off, escalation), ``lists`` (the hidden sheet of names the dropdowns read); with quality
sampling: ``review`` (the Quality Review merge) and ``quality_sheet`` (its drawing).
"""

from __future__ import annotations

from bots.core.workbook.layout import load_layout
from bots.core.workbook.sync import MergeResult, WorkbookResult, merge_coder_edits, sync_workbook, workbook_status

__all__ = ["MergeResult", "WorkbookResult", "load_layout", "merge_coder_edits", "sync_workbook", "workbook_status"]
