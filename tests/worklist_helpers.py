"""A good worklist row and a CSV writer, for tests that load worklists."""

from __future__ import annotations

import csv
from pathlib import Path

from bots.core.worklist import COLUMNS

GOOD = {
    "claim_id": "CLM-1", "payer_id": "acme", "member_id": "A123456789", "patient_name": "DOE, JANE",
    "patient_dob": "1970-03-02", "date_of_service": "2026-10-14", "provider_npi": "1234567893", "line_no": "1",
    "procedure_code": "99214", "modifiers": "25", "units": "1", "charge": "145.00", "diagnosis_codes": "E11.9;I10",
    "diagnosis_pointers": "1;2", "prior_auth_number": "", "note_id": "N-1", "note_signed": "Y",
    "note_date": "2026-10-14", "time_minutes": "", "submitted_date": "", "expected_amount": "",
}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path
