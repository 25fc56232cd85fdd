"""Helpers for the exception workbook tests: findings into the store, and a coder's
hands on the xlsx (openpyxl in normal mode, which saves the way Excel does: shared
strings, its own styles)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bots.core.errors import ExceptionRecord
from bots.core.store import Store

HEADER_ROW = 1


@dataclass
class Finding:
    """One claim's exception as a bot would report it."""

    claim_id: str
    queue: str = "Claim Edits"
    rule_id: str = "NCCI-PTP"
    detail: str = "99214/99213"
    review_level: str = "Entry"
    evidence_file: str | None = None
    bot: str = "claim_edits"
    amount: float = 145.0

    @property
    def item_ref(self) -> str:
        return f"acme:{self.claim_id}"


def report(store: Store, run_id: str, findings: Iterable[Finding]) -> None:
    """One bot run's findings, recorded the way the runner does (one item per claim)."""
    by_item: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        by_item.setdefault((f.bot, f.item_ref), []).append(f)
    with store.begin() as conn:
        for (bot, item_ref), group in by_item.items():
            records = [ExceptionRecord(queue=f.queue, rule_id=f.rule_id, reason=f"{f.rule_id} needs review",
                                       detail=f.detail, evidence=f"rule {f.rule_id}", evidence_file=f.evidence_file,
                                       review_level=f.review_level, amount=f.amount, line_no=1)
                       for f in group]
            claim = {"claim_id": group[0].claim_id, "payer_id": "acme", "patient_name": "DOE, JANE",
                     "date_of_service": "2026-10-14", "total_charge": 145.0}
            store.record_exceptions(conn, bot=bot, item_ref=item_ref, run_id=run_id, records=records, claim=claim)


def stored(store: Store) -> dict[str, dict[str, Any]]:
    return {r["exception_id"]: r for r in store.exception_rows()}


def sheet_rows(path: Path, sheet: str) -> list[dict[str, Any]]:
    """Data rows of a sheet as header -> value, blank rows included (as empty dicts)."""
    wb = load_workbook(path)
    ws = wb[sheet]
    headers = [c.value for c in ws[HEADER_ROW]]
    rows = []
    for values in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True):
        row = {h: v for h, v in zip(headers, values, strict=False) if v is not None}
        rows.append(row)
    wb.close()
    return rows


def rows_by_id(path: Path) -> dict[str, dict[str, Any]]:
    """Every data row of every queue sheet, keyed by Exception ID (duplicates fail the test)."""
    wb = load_workbook(path, read_only=True)
    names = wb.sheetnames
    wb.close()
    found: dict[str, dict[str, Any]] = {}
    for name in names[1:]:
        for row in sheet_rows(path, name):
            if "Exception ID" in row:
                assert row["Exception ID"] not in found, f"duplicate row {row['Exception ID']}"
                found[row["Exception ID"]] = {**row, "_sheet": name}
    return found


def coder_edit(path: Path, sheet: str, edits: dict[str, dict[str, Any]], *, sort_by: str | None = None,
               descending: bool = False, insert_blank_at: int | None = None) -> None:
    """What a coder does in Excel: type into coder columns, sort the sheet, insert a blank row, save."""
    wb = load_workbook(path)
    ws = wb[sheet]
    headers = [c.value for c in ws[HEADER_ROW]]
    col = {h: i + 1 for i, h in enumerate(headers)}
    for r in range(HEADER_ROW + 1, ws.max_row + 1):
        ex_id = ws.cell(r, col["Exception ID"]).value
        for header, value in edits.get(ex_id, {}).items():
            ws.cell(r, col[header]).value = value
    if sort_by is not None:
        data = [[ws.cell(r, c).value for c in range(1, len(headers) + 1)]
                for r in range(HEADER_ROW + 1, ws.max_row + 1)]
        data.sort(key=lambda row: str(row[col[sort_by] - 1]), reverse=descending)
        for r, values in enumerate(data, HEADER_ROW + 1):
            for c, value in enumerate(values, 1):
                ws.cell(r, c).value = value
    if insert_blank_at is not None:
        ws.insert_rows(insert_blank_at)
    wb.save(path)
    wb.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
