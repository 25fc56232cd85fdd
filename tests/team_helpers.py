"""A team roster for the workbook control tests (ownership, sign-off, quality review)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import tomli_w
from openpyxl import load_workbook

from bots.core.settings import Settings

MONDAY = date(2026, 11, 23)
# Ben is away Wednesday and Thursday of that week.
ROSTER: list[dict[str, Any]] = [
    {"name": "Ana Ruiz", "roles": ["coder"], "queues": ["Claim Edits"]},
    {"name": "Ben Okafor", "roles": ["coder"], "queues": ["Claim Edits", "Denials"],
     "absences": [{"start": MONDAY + timedelta(days=2), "end": MONDAY + timedelta(days=3)}]},
    {"name": "Cy Tran", "roles": ["coder"], "queues": ["Claim Edits", "Denials"]},
    {"name": "Dee Marsh", "roles": ["senior", "qa"]},
    {"name": "Eve Stone", "roles": ["senior"], "queues": ["Claim Edits"]},
]


def write_roster(settings: Settings, people: list[dict[str, Any]] = ROSTER) -> Path:
    path = settings.config_file("team.toml")
    path.write_bytes(tomli_w.dumps({"person": people}).encode())
    return path


def qa_edit(path: Path, edits: dict[str, dict[str, Any]]) -> None:
    """A QA reviewer's hands on the Quality Review sheet (openpyxl saves the way Excel does)."""
    wb = load_workbook(path)
    ws = wb["Quality Review"]
    col = {c.value: i + 1 for i, c in enumerate(ws[1])}
    for r in range(2, ws.max_row + 1):
        for header, value in edits.get(ws.cell(r, col["Sample ID"]).value, {}).items():
            ws.cell(r, col[header]).value = value
    wb.save(path)
