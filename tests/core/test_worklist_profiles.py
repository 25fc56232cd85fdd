"""Worklist profiles (issue 12 item 11): a US practice-management export loads with its profile,
is refused in the operator's words without it, and a date is never guessed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.core.errors import ConfigError
from bots.core.inbox import process_inbox
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.worklist import load_worklist
from bots.core.worklist_profiles import WorklistProfile, load_profile
from config_helpers import read_toml, write_toml
from worklist_helpers import GOOD, write_csv

US_HEADER = ["Claim #", "Payer ID", "Member ID", "Patient Name", "DOB", "DOS", "Rendering NPI", "Line #", "CPT",
             "Mod 1", "Mod 2", "Units", "Charge Amt", "Dx Codes", "Dx Pointers", "Note ID", "Note Signed",
             "Note Date", "Expected Amt"]


def us_row(claim: str, line: int, **kw: Any) -> list[Any]:
    """A line as a US practice-management system exports it: text dates, currency text, codes with modifiers."""
    row = {"Claim #": claim, "Payer ID": "ACME", "Member ID": "A123456789", "Patient Name": "DOE, JANE",
           "DOB": "03/02/1970", "DOS": "10/03/2026", "Rendering NPI": "1234567893", "Line #": line,
           "CPT": "99214-25", "Mod 1": "", "Mod 2": "", "Units": 1, "Charge Amt": "$1,234.56",
           "Dx Codes": "E11.9, I10", "Dx Pointers": "1,2", "Note ID": "N-1", "Note Signed": "Yes",
           "Note Date": "10/03/2026", "Expected Amt": "$980.00", **kw}
    return [row[h] for h in US_HEADER]


def write_us_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(US_HEADER)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def cli(settings: Settings, *args: str) -> Any:
    base = ["--home", str(settings.home), "--config-dir", str(settings.config_dir)]
    return CliRunner().invoke(app, [*base, *args])


def test_a_us_export_xlsx_loads_with_its_profile_through_the_cli(tmp_path: Path, settings: Settings) -> None:
    path = write_us_xlsx(tmp_path / "export.xlsx", [
        us_row("CLM-1", 1),
        us_row("CLM-1", 2, **{"CPT": "36415", "Mod 1": "", "Charge Amt": "$12.00"}),
        us_row("CLM-2", 1, **{"CPT": " 992 13 ", "Mod 1": "25", "Mod 2": "59", "Charge Amt": "145"}),
    ])
    out = cli(settings, "worklist", "load", str(path), "--profile", "us_pm_export", "--json")
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert (summary["profile"], summary["claims_new"], summary["bad_rows"]) == ("us_pm_export", 2, 0)

    store = Store(settings.db_url)
    claims = store.load_claims(["acme:CLM-1", "acme:CLM-2"])
    store.close()
    one, two = claims["acme:CLM-1"], claims["acme:CLM-2"]
    assert (one.date_of_service, one.patient_dob, one.expected_amount) == ("2026-10-03", "1970-03-02", 980.0)
    assert [(ln.procedure_code, ln.modifiers, ln.charge, ln.note_date) for ln in one.lines] == [
        ("99214", ["25"], 1234.56, "2026-10-03"), ("36415", [], 12.0, "2026-10-03")]
    assert one.diagnosis_codes == ["E11.9", "I10"] and one.lines[0].diagnosis_pointers == [1, 2]
    assert [(ln.procedure_code, ln.modifiers) for ln in two.lines] == [("99213", ["25", "59"])]

    again = cli(settings, "worklist", "load", str(path), "--profile", "us_pm_export", "--json")
    assert json.loads(again.stdout)["claims_unchanged"] == 2


def test_without_the_profile_us_values_are_input_errors_in_the_operators_words(tmp_path: Path,
                                                                              settings: Settings) -> None:
    # The export's own headers are refused whole, naming what is missing.
    export = write_us_xlsx(tmp_path / "export.xlsx", [us_row("CLM-1", 1)])
    out = cli(settings, "worklist", "load", str(export))
    text = " ".join(out.output.split())
    assert out.exit_code == 2 and "missing required column(s) claim_id, patient_dob, date_of_service" in text
    assert "loads with a worklist profile that maps them (--profile NAME" in text

    # Our headers with US values: each value says what was expected, the claim is held back.
    path = write_csv(tmp_path / "wl.csv", [{**GOOD, "date_of_service": "10/03/2026", "charge": "$1,234.56",
                                            "patient_dob": "03/02/1970"}])
    out = cli(settings, "worklist", "load", str(path))
    text = " ".join(out.output.split())
    assert out.exit_code == 0 and "held back 1" in text
    assert ("column date_of_service: expected a date like 2026-10-03 (YYYY-MM-DD) or an Excel date cell; a date "
            "written like 10/03/2026 needs a worklist profile") in text and "(value: '10/03/2026')" in text
    assert "column charge: expected an amount like 1234.56; amounts written like $1,234.56 need a worklist" in text
    assert "unable to parse" not in text and "invalid character" not in text, "pydantic's words never reach the user"
    assert "column patient_dob" in text and "03/02/1970" not in text, "a date of birth is never echoed"

    store = Store(settings.db_url)
    reasons = " ".join(r["reason"] for r in store.exception_rows())
    store.close()
    assert "03/02/1970" not in reasons and "value not shown: patient data" in reasons


def test_with_the_profile_a_bad_value_says_what_the_profile_accepts(tmp_path: Path, settings: Settings,
                                                                    store: Store) -> None:
    profile = load_profile(settings.config_dir, "us_pm_export")
    path = write_us_xlsx(tmp_path / "export.xlsx", [
        us_row("CLM-1", 1, DOS="2026/10/03"),
        us_row("CLM-2", 1, **{"Charge Amt": "$1,23"}),           # never read as 123
        us_row("CLM-3", 1, **{"Charge Amt": "($12.00)"}),        # negative: read, then refused as a charge
        us_row("CLM-4", 1, DOS="2026-10-03"),                    # ISO is always a date
    ])
    result = load_worklist(store, path, profile=profile)
    assert result.claims_new == 1 and result.claims_rejected == 3
    by_row = {p.row: p.message for p in result.problems}
    assert by_row[2] == "expected a date like 2026-10-03 or, with profile us_pm_export, 10/03/2026 (MM/DD/YYYY)"
    assert by_row[3].startswith("expected an amount like 1234.56 or, with profile us_pm_export, $1,234.56")
    assert by_row[4] == "must not be negative"


def test_an_ambiguous_date_is_an_input_error_never_a_guess(tmp_path: Path, store: Store) -> None:
    path = write_csv(tmp_path / "wl.csv", [
        {**GOOD, "claim_id": "CLM-1", "date_of_service": "03/10/2026"},
        {**GOOD, "claim_id": "CLM-2", "date_of_service": "25/10/2026"},
    ])
    # No format configured: a day/month date is refused, whichever order it might be.
    default = load_worklist(store, path)
    assert default.claims_rejected == 2
    assert all("needs a worklist profile that says whether the month or the day comes first" in p.message
               for p in default.problems)
    # Both orders configured: 25/10 can only be day first, 03/10 reads as two different days.
    both = WorklistProfile(name="either", dates={"formats": ["%m/%d/%Y", "%d/%m/%Y"]})
    result = load_worklist(store, path, profile=both)
    assert result.claims_new == 1 and result.claims_rejected == 1
    assert [(p.row, p.column, p.value) for p in result.problems] == [(2, "date_of_service", "03/10/2026")]
    assert result.problems[0].message.startswith("ambiguous date: profile either reads it as more than one day")
    assert store.load_claims(["acme:CLM-2"])["acme:CLM-2"].date_of_service == "2026-10-25"


def test_a_bad_profile_is_a_config_error_naming_file_key_and_value(tmp_path: Path, settings: Settings) -> None:
    bad = settings.config_dir / "worklists" / "broken.toml"
    write_toml(bad, {"columns": {"Claim #": "claim_number"}, "dates": {"formats": ["%Y"]},
                     "money": {"thousands_separator": "."}})
    with pytest.raises(ConfigError) as caught:
        load_profile(settings.config_dir, "broken")
    message = str(caught.value)
    assert f"{bad}: key 'columns'" in message and "'claim_number'" in message
    assert f"{bad}: key 'dates.formats'" in message and "'%Y'" in message
    assert f"{bad}: key 'money.thousands_separator'" in message

    path = write_csv(tmp_path / "wl.csv", [GOOD])
    out = cli(settings, "worklist", "load", str(path), "--profile", "broken")
    assert out.exit_code == 2 and "broken.toml: key 'dates.formats'" in " ".join(out.output.split())
    missing = cli(settings, "worklist", "load", str(path), "--profile", "nosuch")
    assert missing.exit_code == 2 and "nosuch.toml: file not found" in " ".join(missing.output.split())
    assert "us_pm_export" in " ".join(missing.output.split()), "the error lists the profiles there are"
    check = cli(settings, "config", "check")
    assert check.exit_code == 2 and "broken.toml: key 'dates.formats'" in " ".join(check.output.split())


def test_an_inbox_folder_reads_its_files_with_its_configured_profile(tmp_path: Path, settings: Settings,
                                                                     store: Store) -> None:
    doc = read_toml(settings.config_dir / "bots.toml")
    doc["bots"]["claim_edits"].update({"inbox": "inbox/pm", "inbox_profile": "us_pm_export"})
    write_toml(settings.config_dir / "bots.toml", doc)
    configured = Settings(home=settings.home, config_dir=settings.config_dir, _env_file=None)
    folder = settings.home / "inbox" / "pm"
    folder.mkdir(parents=True)
    path = write_us_xlsx(folder / "export.xlsx", [us_row("CLM-1", 1)])
    then = time.time() - 60
    os.utime(path, (then, then))

    result = process_inbox(configured, store, "inbox/pm")
    assert result.profile == "us_pm_export" and [f.status for f in result.files] == ["archive"]
    assert store.load_claims(["acme:CLM-1"])["acme:CLM-1"].lines[0].charge == 1234.56

    doc["bots"]["claim_edits"]["inbox_profile"] = "nosuch"
    write_toml(settings.config_dir / "bots.toml", doc)
    check = cli(settings, "config", "check")
    assert check.exit_code == 2 and "key 'bots.claim_edits.inbox_profile': no worklist profile" in " ".join(
        check.output.split())
