"""Worklist loading: bad rows become INPUT-FORMAT exceptions, good rows load, reloads add nothing."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.core.errors import InputError
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.worklist import COLUMNS, load_worklist
from worklist_helpers import GOOD, write_csv

def rows_with_problems() -> list[dict[str, str]]:
    return [
        GOOD,
        {**GOOD, "line_no": "2", "procedure_code": "36415", "modifiers": "", "charge": "12.00"},
        {**GOOD, "claim_id": "CLM-2", "date_of_service": "2026-13-45"},           # bad date
        {**GOOD, "claim_id": "CLM-3", "units": "two"},                            # bad number
        {**GOOD, "claim_id": "CLM-4", "member_id": ""},                           # missing required
        {**GOOD, "claim_id": "CLM-5", "line_no": "1"},
        {**GOOD, "claim_id": "CLM-5", "line_no": "2", "charge": "-5"},            # bad second line holds claim
        {**GOOD, "claim_id": "CLM-6", "payer_id": "nopayer"},                     # unknown payer
        {**GOOD, "claim_id": "CLM-7"},
    ]


def test_good_rows_load_and_each_bad_row_names_its_column(tmp_path: Path, store: Store) -> None:
    path = write_csv(tmp_path / "wl.csv", rows_with_problems())
    result = load_worklist(store, path, known_payers={"acme", "beacon"})
    assert result.rows == 9
    assert result.claims_new == 2  # CLM-1 (two lines) and CLM-7
    assert result.claims_rejected == 5
    loaded = store.load_claims(["acme:CLM-1", "acme:CLM-7", "acme:CLM-2", "acme:CLM-5"])
    rows = store.exception_rows()
    assert set(loaded) == {"acme:CLM-1", "acme:CLM-7"}
    assert [ln.procedure_code for ln in loaded["acme:CLM-1"].lines] == ["99214", "36415"]
    by_claim = {r["claim_id"]: r["reason"] for r in rows}
    assert all(r["rule_id"] == "INPUT-FORMAT" and r["queue"] == "Claim Edits" for r in rows)
    assert "row 4, column date_of_service" in by_claim["CLM-2"] and "2026-13-45" in by_claim["CLM-2"]
    assert "row 5, column units" in by_claim["CLM-3"] and "'two'" in by_claim["CLM-3"]
    assert "row 6, column member_id" in by_claim["CLM-4"] and "missing" in by_claim["CLM-4"]
    assert "row 8, column charge" in by_claim["CLM-5"]
    assert "column payer_id" in by_claim["CLM-6"] and "nopayer" in by_claim["CLM-6"]
    assert "wl.csv" in by_claim["CLM-2"]


def test_loading_the_same_file_twice_adds_nothing(tmp_path: Path, store: Store) -> None:
    path = write_csv(tmp_path / "wl.csv", rows_with_problems())
    load_worklist(store, path)
    n_ex = len(store.exception_rows())
    again = load_worklist(store, path)
    assert again.claims_new == 0 and again.claims_updated == 0 and again.claims_unchanged == 3
    assert len(store.exception_rows()) == n_ex


def test_fixed_row_clears_its_input_format_exception(tmp_path: Path, store: Store) -> None:
    path = write_csv(tmp_path / "wl.csv", [{**GOOD, "units": "x"}])
    load_worklist(store, path)
    write_csv(path, [GOOD])
    result = load_worklist(store, path)
    assert result.claims_new == 1
    status = [r["bot_status"] for r in store.exception_rows()]
    assert status == ["Cleared"]


def test_changed_claim_is_updated(tmp_path: Path, store: Store) -> None:
    path = write_csv(tmp_path / "wl.csv", [GOOD])
    load_worklist(store, path)
    write_csv(path, [{**GOOD, "modifiers": "25;59"}])
    assert load_worklist(store, path).claims_updated == 1


def test_xlsx_worklist_with_real_dates_and_numbers(tmp_path: Path, store: Store) -> None:
    import datetime as dt

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([c.replace("_", " ").title() for c in COLUMNS])  # "Claim Id" headers as people type them
    row = dict(GOOD)
    values = [row[c] for c in COLUMNS]
    values[COLUMNS.index("date_of_service")] = dt.datetime(2026, 10, 14)
    values[COLUMNS.index("patient_dob")] = dt.date(1970, 3, 2)
    values[COLUMNS.index("units")] = 1
    values[COLUMNS.index("charge")] = 145.0
    values[COLUMNS.index("line_no")] = 1.0
    ws.append(values)
    ws.append([None] * len(COLUMNS))  # blank rows are skipped
    bad = list(values)
    bad[COLUMNS.index("claim_id")] = "CLM-9"
    bad[COLUMNS.index("charge")] = "abc"
    ws.append(bad)
    path = tmp_path / "wl.xlsx"
    wb.save(path)
    result = load_worklist(store, path)
    assert result.claims_new == 1 and result.claims_rejected == 1
    assert result.problems[0].row == 4 and result.problems[0].column == "charge"
    claim = store.load_claims(["acme:CLM-1"])["acme:CLM-1"]
    assert claim.date_of_service == "2026-10-14" and claim.lines[0].units == 1


def test_missing_required_column_is_a_clear_input_error(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "wl.csv"
    path.write_text("claim_id,payer_id\nCLM-1,acme\n")
    with pytest.raises(InputError, match=r"wl.csv: row 1 \(header\): missing required column"):
        load_worklist(store, path)


def test_cli_worklist_load_reports_rows_and_exits_2_on_unreadable_file(tmp_path: Path, settings: Settings) -> None:
    path = write_csv(tmp_path / "wl.csv", rows_with_problems())
    runner = CliRunner()
    base = ["--home", str(settings.home), "--config-dir", str(settings.config_dir)]
    ok = runner.invoke(app, [*base, "worklist", "load", str(path)])
    assert ok.exit_code == 0, ok.output
    assert "row 4, column date_of_service" in ok.output
    bad = runner.invoke(app, [*base, "worklist", "load", str(tmp_path / "missing.csv")])
    assert bad.exit_code == 2
    assert "missing.csv: file not found" in bad.output
