"""Helpers for the payer_portal tests: credentials in the environment, edits to a test copy of
the configuration, running the bot, and reading the store and the workbook."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from config_helpers import edit_toml, quick_retries, toml_value
from bots.core.runner import RunResult, run_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.worklist import COLUMNS, load_worklist
from bots.payer_portal import create_bot
from bots.core.workbook.layout import QUEUE_SHEETS
from mock_portals import SAMPLE_DATA, load_data

REPO = Path(__file__).resolve().parents[2]
SAMPLE_WORKLIST = REPO / "mock_portals" / "data" / "sample_worklist.csv"
BEACON_SECRET = "JBSWY3DPEHPK3PXPBEACONRB"
BOT = "payer_portal"


def robot_env(monkeypatch: pytest.MonkeyPatch, url: str, *, acme_password: str = "acme-robot-pass") -> None:
    """The robot's portal URLs and credentials, as an operator sets them (environment)."""
    values = {
        "BOTS_PAYER_ACME_URL": f"{url}/acme", "BOTS_PAYER_ACME_USERNAME": "robot",
        "BOTS_PAYER_ACME_PASSWORD": acme_password,
        "BOTS_PAYER_BEACON_URL": f"{url}/beacon", "BOTS_PAYER_BEACON_USERNAME": "robot",
        "BOTS_PAYER_BEACON_PASSWORD": "beacon-robot-pass", "BOTS_PAYER_BEACON_TOTP_SECRET": BEACON_SECRET,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def set_retry(settings: Settings, *, attempts: int, max_attempts: int | None = None) -> Settings:
    """``settings`` with quick in-process retries for this bot (bots.toml is not touched)."""
    return quick_retries(settings, BOT, attempts=attempts, max_attempts=max_attempts)


def edit_profile(config_dir: Path, payer: str, replace: dict[str, str] | None = None, append: str = "") -> None:
    """Set top-level keys of a test copy of a profile (values as TOML literals: ``'"page"'``, ``"2"``)
    and add the tables of ``append`` (TOML text; arrays of tables extend the profile's)."""
    path = config_dir / "payers" / f"{payer}.toml"
    extra = tomllib.loads(append)

    def change(doc: dict[str, Any]) -> None:
        for key, value in (replace or {}).items():
            assert key in doc, f"{key} not in {path.name}"
            doc[key] = toml_value(value)
        for key, value in extra.items():
            doc[key] = doc.get(key, []) + value if isinstance(value, list) else value

    edit_toml(path, change)


def run(settings: Settings, store: Store, only: list[str] | None = None) -> RunResult:
    """One run of a fresh bot, as ``bots run payer_portal [--claim ...]`` does it."""
    bot = create_bot(settings)
    refs = bot.references_for_claims(store, set(only)) if only is not None else None
    result = run_bot(bot, settings, store, only_refs=refs)
    assert result.status == "succeeded", result.message
    return result


def load_sample(store: Store) -> None:
    load_worklist(store, SAMPLE_WORKLIST)


def sample_data() -> dict[str, Any]:
    """A private copy of the sample portal data, for a test to change."""
    return load_data(SAMPLE_DATA)


def write_worklist(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A worklist CSV (DESIGN section 4 columns); missing columns are filled with clean values."""
    base = {"provider_npi": "1234567893", "line_no": "1", "procedure_code": "99213", "modifiers": "", "units": "1",
            "charge": "125.00", "diagnosis_codes": "I10", "diagnosis_pointers": "1", "prior_auth_number": "",
            "note_id": "N-1", "note_signed": "Y", "time_minutes": "", "submitted_date": "2026-09-01",
            "expected_amount": "100.00", "patient_dob": "1970-01-01"}
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            full = {**base, **row}
            full.setdefault("note_date", full["date_of_service"])
            writer.writerow(full)
    return path


def expected_routes() -> dict[str, str]:
    """claim id → the route the sample expects (status_update, a queue, or a rule id); the
    sample's hints, for the 65 submitted claims."""
    data = json.loads(SAMPLE_DATA.read_text())
    return {e["claim_id"]: e["expected_route"] for e in data["billing"]["queue"] if e.get("expected_route")}


def route_taken(rows: list[dict[str, Any]]) -> str:
    """What the bot did with one claim, in the terms of ``expected_routes``."""
    if not rows:
        return "status_update"
    (row,) = rows
    return row["rule_id"] if row["rule_id"] in ("PORTAL-UNMAPPED-STATUS", "PORTAL-AMBIGUOUS") else row["queue"]


def items(store: Store) -> dict[str, dict[str, Any]]:
    return {r["reference"]: r for r in store.work_items(BOT)}


def exception_rows(store: Store, *, open_only: bool = True) -> list[dict[str, Any]]:
    return store.exception_rows(BOT, bot_status="Open" if open_only else None)


def workbook_rows(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Queue sheet → its data rows as header → value."""
    wb = load_workbook(settings.workbook_path, read_only=True)
    out: dict[str, list[dict[str, Any]]] = {}
    for ws in wb.worksheets:
        if ws.title not in QUEUE_SHEETS:  # Summary, Trends, Lists: not queues
            continue
        rows = ws.iter_rows(values_only=True)
        header = next(rows, ())
        out[ws.title] = [dict(zip(header, r)) for r in rows if any(v is not None for v in r)]
    wb.close()
    return out
