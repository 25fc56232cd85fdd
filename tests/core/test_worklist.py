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
    assert all(r["rule_id"] == "INPUT-FORMAT" and r["queue"] == "Input Problems" for r in rows)
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


# ---- hostile input (issue 12) ------------------------------------------------------------------

def _cli_load(settings: Settings, path: Path) -> object:
    base = ["--home", str(settings.home), "--config-dir", str(settings.config_dir)]
    return CliRunner().invoke(app, [*base, "worklist", "load", str(path)])


def test_non_finite_and_absurd_numbers_are_input_errors_naming_row_column_value(tmp_path: Path, store: Store) -> None:
    path = write_csv(tmp_path / "wl.csv", [
        GOOD,
        {**GOOD, "claim_id": "CLM-2", "charge": "1e309"},            # overflows to inf
        {**GOOD, "claim_id": "CLM-3", "charge": "Infinity"},
        {**GOOD, "claim_id": "CLM-4", "charge": "nan"},
        {**GOOD, "claim_id": "CLM-5", "charge": "1e15"},             # finite but absurd
        {**GOOD, "claim_id": "CLM-6", "expected_amount": "-inf"},
        {**GOOD, "claim_id": "CLM-7", "units": "1e309"},
        {**GOOD, "claim_id": "CLM-8", "units": "99999999999999999999999"},
    ])
    result = load_worklist(store, path)
    assert result.claims_new == 1 and result.claims_rejected == 7
    by_claim = {r["claim_id"]: r["reason"] for r in store.exception_rows()}
    assert "row 3, column charge: '1e309': not a finite number" in by_claim["CLM-2"]
    assert "row 4, column charge: 'Infinity': not a finite number" in by_claim["CLM-3"]
    assert "row 5, column charge: 'nan': not a finite number" in by_claim["CLM-4"]
    assert "row 6, column charge" in by_claim["CLM-5"] and "plausible" in by_claim["CLM-5"] and "1e15" in by_claim["CLM-5"]
    assert "row 7, column expected_amount: '-inf': not a finite number" in by_claim["CLM-6"]
    assert "row 8, column units: '1e309': not a finite number" in by_claim["CLM-7"]
    assert "row 9, column units" in by_claim["CLM-8"] and "plausible" in by_claim["CLM-8"]
    assert store.load_claims(["acme:CLM-2", "acme:CLM-4"]) == {}, "no NULL or inf charge reaches the store"


def _xlsx_with_raw_charges(path: Path, charges: list[str]) -> Path:
    """An xlsx whose charge cells hold ``charges`` verbatim in ``<v>`` (openpyxl would write inf as blank)."""
    import zipfile

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    for i, _ in enumerate(charges):
        ws.append([f"CLM-{i + 1}" if c == "claim_id" else 999.25 if c == "charge" else GOOD[c] for c in COLUMNS])
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("sheet1.xml"):
                for c in charges:
                    data = data.replace(b"<v>999.25</v>", f"<v>{c}</v>".encode(), 1)
            out.writestr(info, data)
    return path


def test_xlsx_with_non_finite_cells_is_an_input_error(tmp_path: Path, store: Store, settings: Settings) -> None:
    path = _xlsx_with_raw_charges(tmp_path / "wl.xlsx", ["145.0", "1E309", "-1e309"])
    result = load_worklist(store, path)
    assert result.claims_new == 1 and result.claims_rejected == 2
    assert {(p.row, p.column, p.message) for p in result.problems} == {
        (3, "charge", "not a finite number"), (4, "charge", "not a finite number")}
    # A cell openpyxl cannot parse at all ("nan" in a number cell) refuses the file, exit 2, no traceback.
    out = _cli_load(settings, _xlsx_with_raw_charges(tmp_path / "nan.xlsx", ["145.0", "nan"]))
    assert out.exit_code == 2, out.output
    assert "nan.xlsx: not a readable worklist" in " ".join(out.output.split())


def test_workbook_never_writes_an_unreadable_number(settings: Settings, store: Store) -> None:
    from bots.core.workbook import sync_workbook
    from workbook_helpers import Finding, report, rows_by_id

    # Defence in depth: whatever reached the store (an older load, a bot's arithmetic), the
    # money and int cells of the workbook are numbers only when finite, else text.
    report(store, "run-1", [Finding("CLM-1", amount=float("inf")), Finding("CLM-2", amount=float("nan")),
                            Finding("CLM-3", amount=float("-inf")), Finding("CLM-4", amount=12.5)])
    result = sync_workbook(settings, store)
    assert result.written, result.message
    rows = rows_by_id(settings.workbook_path)  # openpyxl refuses "<v>inf</v>" as invalid XML
    amounts = {r["Claim ID"]: r.get("Amount") for r in rows.values()}
    # NaN: SQLite stores it as NULL, so it shows blank; never as a number.
    assert amounts == {"CLM-1": "inf", "CLM-2": None, "CLM-3": "-inf", "CLM-4": 12.5}


def test_plain_numbers_in_a_date_column_are_not_dates(tmp_path: Path, store: Store) -> None:
    import datetime as dt

    path = write_csv(tmp_path / "wl.csv", [
        GOOD,
        {**GOOD, "claim_id": "CLM-2", "date_of_service": "0"},
        {**GOOD, "claim_id": "CLM-3", "patient_dob": "86400"},
        {**GOOD, "claim_id": "CLM-4", "note_date": "1760000000"},
    ])
    result = load_worklist(store, path)
    assert result.claims_new == 1 and result.claims_rejected == 3
    by_claim = {r["claim_id"]: r["reason"] for r in store.exception_rows()}
    assert "row 3, column date_of_service: '0': expected a date like 2026-10-03" in by_claim["CLM-2"]
    assert "row 4, column patient_dob" in by_claim["CLM-3"] and "value not shown: patient data" in by_claim["CLM-3"]
    assert "86400" not in by_claim["CLM-3"], "a date of birth is PHI: never echoed, even when it is wrong"
    assert "row 5, column note_date" in by_claim["CLM-4"]

    # In an xlsx: a real date cell is a date, a plain number cell is not.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    ws.append([dt.date(2026, 10, 14) if c == "date_of_service" else GOOD[c] for c in COLUMNS])
    ws.append(["CLM-9" if c == "claim_id" else 86400 if c == "date_of_service" else GOOD[c] for c in COLUMNS])
    xlsx = tmp_path / "wl.xlsx"
    wb.save(xlsx)
    result = load_worklist(store, xlsx)
    assert result.claims_rejected == 1
    assert [(p.row, p.column, p.value) for p in result.problems] == [(3, "date_of_service", "86400")]
    assert store.load_claims(["acme:CLM-1"])["acme:CLM-1"].date_of_service == "2026-10-14"


def test_unreadable_worklists_exit_2_with_one_clear_message(tmp_path: Path, settings: Settings) -> None:
    import os

    header = ",".join(COLUMNS) + "\n"
    good_line = ",".join(f'"{GOOD[c]}"' for c in COLUMNS) + "\n"
    cases = {
        "random.csv": (os.urandom(4096), "binary data, not text"),
        "random.xlsx": (os.urandom(4096), "not a readable xlsx workbook"),
        "utf16-nobom.csv": ((header + good_line).encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
        "semicolon.csv": ((header + good_line).replace(",", ";").encode(), "looks semicolon-delimited: save it comma-separated"),
        "tabs.txt": ((header + good_line).replace(",", "\t").encode(), "looks tab-delimited"),
        "cp1252-garbage.csv": (bytes(range(0x80, 0x100)) * 8, "neither UTF-8 nor Windows-1252 text"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        out = _cli_load(settings, path)
        assert out.exit_code == 2, (name, out.output)
        assert message in " ".join(out.output.split()), (name, out.output)
        assert "Traceback" not in out.output and out.exception is None or isinstance(out.exception, SystemExit)

    # A UTF-16 CSV with its byte-order mark (Excel's "Unicode Text" encoding) is detected and loads.
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes((header + good_line).encode("utf-16"))
    out = _cli_load(settings, utf16)
    assert out.exit_code == 0, out.output
    assert "claims new 1" in out.output


def test_inbox_rejects_an_unreadable_worklist_with_the_same_message(tmp_path: Path, settings: Settings,
                                                                      store: Store) -> None:
    import os
    import time

    from bots.core.inbox import process_inbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "semi.csv").write_bytes((",".join(COLUMNS) + "\n").replace(",", ";").encode())
    old = time.time() - 60
    os.utime(inbox / "semi.csv", (old, old))
    result = process_inbox(settings, store, inbox)
    assert [f.status for f in result.files] == ["rejected"]
    assert "looks semicolon-delimited: save it comma-separated" in (result.files[0].problem or "")


def test_claim_and_payer_ids_over_60_characters_are_input_errors(tmp_path: Path, store: Store) -> None:
    long_claim = "CLM-" + "9" * 296
    long_payer = "p" * 61
    path = write_csv(tmp_path / "wl.csv", [
        GOOD,
        {**GOOD, "claim_id": long_claim},
        {**GOOD, "claim_id": "CLM-3", "payer_id": long_payer},
        {**GOOD, "claim_id": "C" * 60},  # exactly at the limit: fine
    ])
    result = load_worklist(store, path)
    assert result.claims_new == 2 and result.claims_rejected == 2
    assert {(p.row, p.column, p.message) for p in result.problems} == {
        (3, "claim_id", "longer than 60 characters (300)"), (4, "payer_id", "longer than 60 characters (61)")}
    rows = store.exception_rows()
    assert len(rows) == 2 and all(r["rule_id"] == "INPUT-FORMAT" for r in rows)
    assert all(len(r["claim_id"] or "") <= 60 for r in rows), "the exception row fits the schema"


def test_xlsx_formula_without_a_cached_value_says_so(tmp_path: Path, store: Store) -> None:
    wb = openpyxl.Workbook()  # openpyxl writes formulas without results, as a script or export would
    ws = wb.active
    ws.append(list(COLUMNS))
    ws.append([GOOD[c] for c in COLUMNS])
    ws.append(["CLM-2" if c == "claim_id" else "=100+45" if c == "charge" else
               '=""' if c == "note_id" else GOOD[c] for c in COLUMNS])
    path = tmp_path / "wl.xlsx"
    wb.save(path)
    result = load_worklist(store, path)
    assert result.claims_new == 1 and result.claims_rejected == 1
    assert {(p.row, p.column) for p in result.problems} == {(3, "charge"), (3, "note_id")}
    assert all(p.message.startswith("formula without a value: open and save the file in Excel first")
               for p in result.problems)
    assert not any("required value is missing" in p.message for p in result.problems)
    assert "=100+45" in store.exception_rows()[0]["reason"] or "=100+45" in " ".join(
        r["reason"] for r in store.exception_rows())


# ---- streaming (issue 12 item 8) ---------------------------------------------------------------

def test_scattered_lines_of_a_claim_are_assembled_and_a_bad_row_holds_its_whole_claim(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import bots.core.worklist as worklist

    monkeypatch.setattr(worklist, "BATCH_CLAIMS", 2)  # several store batches, even in a small file
    rows = [
        {**GOOD, "claim_id": "CLM-A", "line_no": "1"},
        *({**GOOD, "claim_id": f"CLM-F{i}"} for i in range(5)),
        {**GOOD, "claim_id": "CLM-B", "line_no": "1"},
        {**GOOD, "claim_id": "CLM-A", "line_no": "2", "procedure_code": "36415", "modifiers": ""},
        *({**GOOD, "claim_id": f"CLM-G{i}"} for i in range(5)),
        {**GOOD, "claim_id": "CLM-B", "line_no": "2", "units": "two"},       # holds CLM-B back, line 1 too
        {**GOOD, "claim_id": "CLM-A", "line_no": "3", "procedure_code": "93000", "modifiers": ""},
    ]
    path = write_csv(tmp_path / "wl.csv", rows)
    result = load_worklist(store, path)
    assert (result.rows, result.claims_new, result.claims_rejected) == (15, 11, 1)
    claims = store.load_claims(["acme:CLM-A", "acme:CLM-B"])
    assert list(claims) == ["acme:CLM-A"], "a claim with a bad row is held back whole"
    a = claims["acme:CLM-A"]
    assert [(ln.line_no, ln.procedure_code, ln.source_row) for ln in a.lines] == [
        (1, "99214", 2), (2, "36415", 9), (3, "93000", 16)]
    assert [(p.row, p.column) for p in result.problems] == [(15, "units")]

    again = load_worklist(store, path)
    assert (again.claims_new, again.claims_updated, again.claims_unchanged) == (0, 0, 11)
    # The same claims in another order (the digest is of the claim, not of the file) change nothing.
    write_csv(path, list(reversed(rows)))
    assert load_worklist(store, path).claims_unchanged == 11


def test_the_spill_file_is_gone_after_a_load_even_a_refused_one(tmp_path: Path, store: Store,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spill"))
    (tmp_path / "spill").mkdir()
    load_worklist(store, write_csv(tmp_path / "wl.csv", [GOOD]))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01" * 100)
    with pytest.raises(InputError):
        load_worklist(store, bad)
    assert list((tmp_path / "spill").iterdir()) == [], "worklist rows (PHI) never stay behind in a temp folder"


def test_a_file_unreadable_half_way_stores_nothing(tmp_path: Path, store: Store) -> None:
    path = write_csv(tmp_path / "wl.csv", [{**GOOD, "claim_id": f"CLM-{i}"} for i in range(50)])
    with path.open("ab") as fh:
        fh.write(b'CLM-X,acme,"' + b"x" * 200_000 + b'"\n')  # csv.Error: field larger than field limit
    with pytest.raises(InputError, match="not a readable worklist"):
        load_worklist(store, path)
    assert store.claim_rows() == [], "the claims before the bad line were not stored either"
