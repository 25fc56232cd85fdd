"""The workbook as a coder works it: what is on screen, what prints, and yesterday's file still merging.

Read back with openpyxl, and once through LibreOffice Calc (the coders' client): its PDF export is
the print a coder would get, and its xlsx save is the file a coder would hand back.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from openpyxl import load_workbook

from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.workbook import sync_workbook
from bots.core.workbook.layout import COLUMNS, QUEUE_SHEETS, column_letter
from office_helpers import save_through_libreoffice
from workbook_helpers import Finding, coder_edit, report, rows_by_id, stored

DATA = Path(__file__).resolve().parents[1] / "data"
AT = {c.header: column_letter(i) for i, c in enumerate(COLUMNS, 1)}
HEADERS = [c.header for c in COLUMNS]

# The findings behind tests/data/workbook_layout_v1.xlsx (see tests/data/README.md).
OLD = [Finding("CLM-OLD1"), Finding("CLM-OLD2", rule_id="DOC-SIGNATURE", review_level="Senior"),
       Finding("CLM-OLD3", queue="Denials", rule_id="PORTAL-DENIED", bot="payer_portal"),
       Finding("CLM-OLD4", queue="Denials", rule_id="PORTAL-DENIED", bot="payer_portal")]


def test_a_workbook_written_in_the_old_column_order_merges_with_every_edit_kept(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", OLD)
    settings.workbook_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "workbook_layout_v1.xlsx", settings.workbook_path)
    old_headers = [c.value for c in load_workbook(settings.workbook_path)["Claim Edits"][1]]
    assert old_headers.index("Assigned To") == 21, "the fixture is in the old order (coder columns after 21)"

    result = sync_workbook(settings, store)
    assert result.written and result.edits == 3, result.problems
    by_claim = {r["claim_id"]: r for r in stored(store).values()}
    assert {k: by_claim["CLM-OLD1"][k] for k in ("assigned_to", "status", "resolution", "resolution_note",
                                                 "resolved_by", "resolved_on")} == {
        "assigned_to": "Ana", "status": "Resolved", "resolution": "Modifier corrected",
        "resolution_note": "added 25 per op note", "resolved_by": "Ana", "resolved_on": "2026-11-20"}
    assert (by_claim["CLM-OLD2"]["status"], by_claim["CLM-OLD2"]["resolution_note"]) == (
        "In Progress", "waiting on provider")
    assert (by_claim["CLM-OLD3"]["status"], by_claim["CLM-OLD3"]["assigned_to"]) == ("Escalated", "Cy")
    assert by_claim["CLM-OLD4"]["status"] in (None, "", "New")

    # Rewritten in the new order, with the edits in their new columns.
    ws = load_workbook(settings.workbook_path)["Claim Edits"]
    assert [c.value for c in ws[1]] == HEADERS
    shown = {r["Claim ID"]: r for r in rows_by_id(settings.workbook_path).values()}
    assert shown["CLM-OLD1"]["Resolution Note"] == "added 25 per op note"
    assert shown["CLM-OLD3"]["Status"] == "Escalated"


def test_the_coder_sees_claim_reason_and_their_columns_together_and_each_header_explains_itself(
        settings: Settings, store: Store) -> None:
    long_reason = "NCCI PTP: 99214 is a column 2 code of 20610 on the same date of service. " * 4
    report(store, "run-1", [Finding("CLM-L1", detail="a"), Finding("CLM-L2", detail="b")])
    with store.begin() as conn:  # a long reason, as claim edits write them
        store.record_exceptions(conn, bot="claim_edits", item_ref="acme:CLM-L3", run_id="run-1", claim={
            "claim_id": "CLM-L3", "payer_id": "acme", "patient_name": "DOE, JANE", "date_of_service": "2026-10-14",
            "total_charge": 10.0}, records=[_record(long_reason)])
    sync_workbook(settings, store)
    wb = load_workbook(settings.workbook_path)
    ws = wb["Claim Edits"]

    # Identity frozen on the left with the header; the coder's columns right after Reason and the link.
    assert ws.freeze_panes == "C2"
    order = HEADERS
    assert order[:2] == ["Exception ID", "Claim ID"]
    assert order.index("Assigned To") == order.index("Evidence File") + 1 == order.index("Reason") + 2
    assert order[-4:] == ["Run ID", "First Seen", "Last Seen", "Times Seen"]
    for header in ("Run ID", "First Seen", "Last Seen", "Times Seen"):  # grouped and collapsed
        dim = ws.column_dimensions[AT[header]]
        assert dim.outlineLevel == 1 and dim.hidden
    for header in ("Exception ID", "Claim ID", "Reason", "Status", "Resolution Note"):
        assert not ws.column_dimensions[AT[header]].hidden

    # Reason wraps and its row is tall enough to read; short rows stay one line.
    reason_cell = next(ws[f"{AT['Reason']}{r}"] for r in range(2, ws.max_row + 1)
                       if ws[f"{AT['Claim ID']}{r}"].value == "CLM-L3")
    assert reason_cell.alignment.wrap_text and ws.column_dimensions[AT["Reason"]].width == 60
    assert ws.row_dimensions[reason_cell.row].height >= 60
    short = next(r for r in range(2, ws.max_row + 1) if ws[f"{AT['Claim ID']}{r}"].value == "CLM-L1")
    assert ws.row_dimensions[short].height is None
    # Widths fit the values within limits.
    assert 12 <= ws.column_dimensions[AT["Claim ID"]].width <= 24

    # Every coder column's header says what it takes; Review Level says what colour also says.
    for header in ("Assigned To", "Status", "Resolution", "Resolution Note", "Resolved By", "Resolved On",
                   "Review Level", "Bot Check"):
        comment = ws[f"{AT[header]}1"].comment
        assert comment is not None and len(comment.text) > 20, header
    assert "Corrected claim" in ws[f"{AT['Resolution']}1"].comment.text  # this sheet's choices
    assert ws[f"{AT['Review Level']}2"].value in ("Entry", "Senior")  # text, not colour alone

    # Print: landscape, one page wide, header row on every page, footer with sheet, page and time.
    for name in ("Summary", *QUEUE_SHEETS):
        sheet = wb[name]
        assert sheet.page_setup.orientation == "landscape", name
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth == 1
        assert sheet.page_setup.fitToHeight == 0
        assert sheet.oddFooter.left.text == "&A" and "&P" in sheet.oddFooter.center.text
        assert sheet.oddFooter.right.text.startswith("written 20")
        if name != "Summary":
            assert sheet.print_title_rows == "$1:$1"
    # The Summary's "Last written" fits its column (it showed ### at 12).
    assert wb["Summary"].column_dimensions["B"].width >= 16


def _record(reason: str):  # noqa: ANN202 - an ExceptionRecord
    from bots.core.errors import ExceptionRecord

    return ExceptionRecord(queue="Claim Edits", rule_id="NCCI-PTP", reason=reason, detail="long",
                           evidence="rule NCCI-PTP", review_level="Entry", amount=10.0, line_no=1)


def _pdf_pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf.read_bytes()))


def test_libreoffice_prints_each_sheet_one_page_wide_and_its_save_keeps_the_controls(
        settings: Settings, store: Store) -> None:
    queues = ["Claim Edits", "Denials", "Documentation Requests", "Coding Queries", "Payment Variances"]
    findings = [Finding(f"CLM-P{n:03d}", queue=queues[n % len(queues)], rule_id=f"RULE-{n % 7}",
                        review_level="Senior" if n % 5 == 0 else "Entry") for n in range(45)]
    report(store, "run-1", findings)
    sync_workbook(settings, store)
    pdf_source = settings.workbook_path.with_name("print-copy.xlsx")
    shutil.copy(settings.workbook_path, pdf_source)
    pdf = save_through_libreoffice(pdf_source, to="pdf")
    sheets = 1 + len(QUEUE_SHEETS)
    assert 0 < _pdf_pages(pdf) <= len(findings) / 10 + sheets, f"{_pdf_pages(pdf)} pages for 45 rows"

    # A coder's edit saved by LibreOffice merges, and the rewrite has the layout back.
    ex_id = next(e for e, r in stored(store).items() if r["claim_id"] == "CLM-P001")
    coder_edit(settings.workbook_path, "Denials", {ex_id: {"Status": "In Progress", "Assigned To": "Ana"}})
    save_through_libreoffice(settings.workbook_path)
    result = sync_workbook(settings, store)
    assert result.written and not [p for p in result.problems if "could not" in p], result.problems
    assert (stored(store)[ex_id]["status"], stored(store)[ex_id]["assigned_to"]) == ("In Progress", "Ana")
    ws = load_workbook(settings.workbook_path)["Denials"]
    assert ws.freeze_panes == "C2" and ws.page_setup.fitToWidth == 1 and ws.protection.sheet


def test_bad_worklist_rows_go_to_input_problems_in_plain_words_without_patient_values(
        settings: Settings, tmp_path: Path) -> None:
    import zipfile

    from typer.testing import CliRunner

    from bots.cli.app import app
    from canaries import CANARY_MEMBER, CANARY_NAME
    from worklist_helpers import GOOD, write_csv

    bad_dob = "1931-02-30"
    rows = [{**GOOD, "claim_id": "CLM-IP1", "patient_name": CANARY_NAME, "date_of_service": "2026-02-30"},
            {**GOOD, "claim_id": "CLM-IP2", "member_id": CANARY_MEMBER, "patient_dob": bad_dob},
            {**GOOD, "claim_id": "CLM-IP3", "patient_name": CANARY_NAME, "units": "two"},
            {**GOOD, "claim_id": "CLM-OK"}]
    cli = ["--home", str(settings.home), "--config-dir", str(settings.config_dir)]
    out = CliRunner().invoke(app, [*cli, "worklist", "load", str(write_csv(tmp_path / "wl.csv", rows))])
    assert out.exit_code == 0, out.output
    assert "Input Problems" in out.output
    assert CliRunner().invoke(app, [*cli, "workbook", "write"]).exit_code == 0

    found = {r["Claim ID"]: r for r in rows_by_id(settings.workbook_path).values()}
    assert {r["_sheet"] for r in found.values()} == {"Input Problems"}, "coders' sheets hold only coder work"
    assert set(found) == {"CLM-IP1", "CLM-IP2", "CLM-IP3"}
    reason = {c: r["Reason"] for c, r in found.items()}
    assert reason["CLM-IP1"].startswith("wl.csv row 2, column date_of_service: '2026-02-30': ")
    assert "2026-10-03" in reason["CLM-IP1"]  # what was expected, in an example
    assert "fix the row where the worklist comes from and load the file again" in reason["CLM-IP1"]
    assert reason["CLM-IP2"].startswith("wl.csv row 3, column patient_dob: (value not shown: patient data): ")
    assert reason["CLM-IP3"].startswith("wl.csv row 4, column units: 'two': ")
    assert "Patient" not in found["CLM-IP1"]  # the operators' sheet names the row, not the patient

    with zipfile.ZipFile(settings.workbook_path) as xlsx:
        text = "".join(xlsx.read(n).decode("utf-8", "replace") for n in xlsx.namelist())
    for canary in (CANARY_NAME, CANARY_MEMBER, bad_dob):
        assert canary not in text, canary


def test_an_operator_resolving_an_input_problem_sends_nothing_to_billing(settings: Settings, store: Store,
                                                                       tmp_path: Path) -> None:
    from bots.core.worklist import load_worklist
    from worklist_helpers import GOOD, write_csv

    load_worklist(store, write_csv(tmp_path / "wl.csv", [{**GOOD, "claim_id": "CLM-IPX", "units": "two"}]))
    sync_workbook(settings, store)
    [ex_id] = [e for e, r in stored(store).items() if r["queue"] == "Input Problems"]
    coder_edit(settings.workbook_path, "Input Problems", {ex_id: {
        "Status": "Resolved", "Resolution": "Claim withdrawn", "Resolution Note": "sender withdrew it",
        "Resolved By": "ops"}})
    sync_workbook(settings, store)
    assert stored(store)[ex_id]["status"] == "Resolved" and not stored(store)[ex_id]["bot_check"]
    assert store.ready_resolutions() == [], "the operators' queue never becomes a billing update"
