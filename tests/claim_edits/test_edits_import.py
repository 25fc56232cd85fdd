"""`bots edits import`: CMS PTP and MUE files (text and xlsx), atomic replacement, whole-file rejection."""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bots.claim_edits.importer import TableRejected, active_versions, detect_kind, import_tables
from bots.claim_edits.tables import edit_table_versions, ncci_mue, ncci_ptp
from bots.cli import app
from bots.core.errors import InputError
from bots.core.settings import Settings
from bots.core.store import Store
from claim_edits.edits_helpers import MUE_HEADER, PTP_HEADER, PTP_ROWS, write_mue, write_ptp


def count(store: Store, table) -> int:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_ptp_text_file_in_cms_layout_loads_with_its_version_label(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ccipra-v321r0-f1.txt"
    # CMS spreads the header over continuation lines and ends with a blank line.
    path.write_text("CPT only copyright 2026 American Medical Association.\n\n" + PTP_HEADER + "\n"
                    "\t\t\t\t\t0=not allowed\t\n"
                    "20610\t76942\t\t20150101\t*\t0\tMisuse of column two code with column one code\n"
                    "93000\t93005\t*\t19960101\t*\t0\tStandards of medical / surgical practice\n"
                    "97530\t97140\t\t20200101\t20200401\t1\tMutually exclusive procedures\n\n")
    assert detect_kind(path) == "ptp"
    result = import_tables(store, [path])
    assert result.kind == "ptp" and result.rows == 3
    assert result.label.startswith("ccipra-v321r0-f1.txt sha256:") and result.label.endswith("rows:3")
    with store.read() as conn:
        rows = conn.execute(select(ncci_ptp.c.column1, ncci_ptp.c.column2, ncci_ptp.c.effective, ncci_ptp.c.deletion,
                                   ncci_ptp.c.modifier_indicator, ncci_ptp.c.prior_1996)
                            .order_by(ncci_ptp.c.column1)).all()
    assert [tuple(r) for r in rows] == [
        ("20610", "76942", "2015-01-01", None, "0", False),
        ("93000", "93005", "1996-01-01", None, "0", True),
        ("97530", "97140", "2020-01-01", "2020-04-01", "1", False),
    ]
    assert active_versions(store)["ptp"][1] == result.label


def test_mue_csv_with_the_cms_quoted_header_loads(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2026.csv"
    path.write_text('"CPT codes, descriptions and other data only are copyright AMA.",,,\n'
                    '"HCPCS/\nCPT Code",Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n'
                    '36415,1,2 Date of Service Edit: Policy,CMS Policy\n'
                    '97110,6,"3 Date of Service Edit: Clinical","Clinical: Data"\n'
                    '20610,1,1 Line Edit,Anatomic Consideration\n')
    result = import_tables(store, [path])
    assert (result.kind, result.rows) == ("mue", 3)
    with store.read() as conn:
        got = {r.code: (r.mue_value, r.mai) for r in conn.execute(select(ncci_mue))}
    assert got == {"36415": (1, 2), "97110": (6, 3), "20610": (1, 1)}


def test_table_with_malformed_lines_is_rejected_whole_and_the_active_one_stays(store: Store, tmp_path: Path) -> None:
    good = import_tables(store, [write_ptp(tmp_path / "good.txt", PTP_ROWS)])
    bad = write_ptp(tmp_path / "bad.txt", [
        ("20610", "99214", "20100101", "*", "1"),
        ("2061", "99214", "20100101", "*", "1"),         # short code
        ("20611", "20610", "20151301", "*", "0"),        # month 13
        ("97110", "97140", "20210101", "*", "2"),        # no indicator 2
        ("97530", "97140", "20200101", "20190101", "1"),  # deleted before effective
    ])
    with pytest.raises(TableRejected) as err:
        import_tables(store, [bad])
    msg = str(err.value)
    assert err.value.total == 4
    assert "bad.txt line 5, column 'Column 1': expected a 5-character CPT/HCPCS code (value: '2061')" in msg
    assert "bad.txt line 6, column 'Effective Date': expected a date as YYYYMMDD (value: '20151301')" in msg
    assert "line 7, column 'Modifier Indicator'" in msg and "line 8, column 'Deletion Date'" in msg
    assert active_versions(store)["ptp"] == (good.version_id, good.label)
    assert count(store, ncci_ptp) == len(PTP_ROWS), "nothing of the rejected file was kept"


def test_rejection_lists_the_first_problems_and_counts_the_rest(store: Store, tmp_path: Path) -> None:
    rows = [("9999", "20610", "20100101", "*", "1")] * 30
    with pytest.raises(TableRejected) as err:
        import_tables(store, [write_ptp(tmp_path / "bad.txt", rows)])
    assert err.value.total == 30 and len(err.value.problems) == 20 and "and 10 more" in str(err.value)


def test_new_import_replaces_the_old_version_atomically(store: Store, tmp_path: Path) -> None:
    first = import_tables(store, [write_ptp(tmp_path / "q1.txt", PTP_ROWS)])
    second = import_tables(store, [write_ptp(tmp_path / "q2.txt", PTP_ROWS[:2])])
    assert second.replaced == first.label and second.version_id != first.version_id
    assert active_versions(store)["ptp"] == (second.version_id, second.label)
    with store.read() as conn:
        versions = conn.execute(select(edit_table_versions.c.version_id, edit_table_versions.c.active)).all()
        ids = set(conn.execute(select(ncci_ptp.c.version_id)).scalars())
    assert [tuple(v) for v in versions] == [(second.version_id, True)], "the old version is deleted"
    assert ids == {second.version_id} and count(store, ncci_ptp) == 2


def test_split_ptp_table_imports_as_one_version(store: Store, tmp_path: Path) -> None:
    f1 = write_ptp(tmp_path / "ccipra-f1.txt", PTP_ROWS[:3])
    f2 = write_ptp(tmp_path / "ccipra-f2.txt", PTP_ROWS[3:])
    result = import_tables(store, [f1, f2])
    assert result.rows == len(PTP_ROWS) and "(+1 more)" in result.label
    with pytest.raises(InputError, match="looks like a MUE table"):
        import_tables(store, [f1, write_mue(tmp_path / "mue.txt", [("36415", 1, 2)])])


def test_xlsx_tables_import_and_numeric_codes_keep_their_zeros(store: Store, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["CPT only copyright 2026 American Medical Association. All rights reserved."])
    ws.append(["Column 1", "Column 2", "*=in existence prior to 1996", "Effective Date", "Deletion Date",
               "Modifier", "PTP Edit Rationale"])
    ws.append([None, None, None, None, "*=no data", "0=not allowed", None])
    ws.append([20610, 76942, None, 20150101, "*", 0, "Misuse of column two code with column one code"])
    ws.append([100, "00103", None, 20100101, 20200101, 1, "Anesthesia codes lose their zeros in Excel"])
    ptp_path = tmp_path / "ptp.xlsx"
    wb.save(ptp_path)
    assert import_tables(store, [ptp_path]).rows == 2
    with store.read() as conn:
        pairs = conn.execute(select(ncci_ptp.c.column1, ncci_ptp.c.column2, ncci_ptp.c.deletion)).all()
    assert sorted(tuple(p) for p in pairs) == [("00100", "00103", "2020-01-01"), ("20610", "76942", None)]

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(MUE_HEADER.split("\t"))
    ws.append(["36415", 1, "2 Date of Service Edit: Policy", "CMS Policy"])
    mue_path = tmp_path / "mue.xlsx"
    wb.save(mue_path)
    result = import_tables(store, [mue_path])
    assert (result.kind, result.rows) == ("mue", 1)


def test_a_file_that_is_no_cms_table_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(InputError, match="not a CMS NCCI PTP or MUE table"):
        import_tables(store, [path])


# ---- the command ------------------------------------------------------------------------------------------

def cli(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                      "edits", "import", *args])
    return result.exit_code, result.output


def test_edits_import_command_loads_and_reports(settings: Settings, tmp_path: Path) -> None:
    code, out = cli(settings, str(write_ptp(tmp_path / "ptp.txt", PTP_ROWS)), "--json")
    assert code == 0, out
    body = json.loads(out.strip().splitlines()[-1])
    assert body["ok"] and body["kind"] == "ptp" and body["rows"] == len(PTP_ROWS)
    code, out = cli(settings, str(write_mue(tmp_path / "mue.txt", [("36415", 1, 2)])))
    assert code == 0 and "MUE table loaded: 1 rows" in out


def test_edits_import_command_exits_2_on_a_bad_table_or_missing_file(settings: Settings, tmp_path: Path) -> None:
    bad = write_ptp(tmp_path / "bad.txt", [("20610", "99214", "2010-01-01", "*", "1")])
    code, out = cli(settings, str(bad))
    assert code == 2 and "line 4, column 'Effective Date'" in out and "active table is unchanged" in out
    code, out = cli(settings, str(bad), "--json")
    assert code == 2 and json.loads(out.strip().splitlines()[-1])["problems"] == 1
    code, out = cli(settings, str(tmp_path / "missing.txt"))
    assert code == 2 and "file not found" in out


# ---- full size ---------------------------------------------------------------------------------------------

def write_full_size_ptp(path: Path, rows: int) -> None:
    """A CMS-layout PTP file of ``rows`` unique pairs (about 100 column-2 codes per column-1 code)."""
    col2 = [f"{20000 + 7 * j:05d}" for j in range(100)]
    with path.open("w", newline="") as fh:
        fh.write("CPT only copyright 2026 American Medical Association. All rights reserved.\r\n\r\n")
        fh.write(PTP_HEADER + "\r\n")
        written, i = 0, 0
        while written < rows:
            c1 = f"{10000 + i:05d}"
            n = min(100, rows - written)
            fh.write("".join(f"{c1}\t{c2}\t\t20180101\t*\t{j % 2}\tMutually exclusive procedures\r\n"
                             for j, c2 in enumerate(col2[:n])))
            written += n
            i += 1


@pytest.mark.slow
def test_a_million_row_cms_ptp_file_imports(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ccipra-v321r0-f1.txt"
    write_full_size_ptp(path, 1_000_000)
    started = time.monotonic()
    result = import_tables(store, [path])
    seconds = time.monotonic() - started
    assert result.rows == 1_000_000 and count(store, ncci_ptp) == 1_000_000
    print(f"imported 1,000,000 PTP rows in {seconds:.1f}s")  # a figure, not a timed assertion


# ---- zip archives, as CMS distributes the tables (issue 12, item 9) --------------------------------------

def ptp_xlsx(path: Path, rows: list[tuple[str, ...]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(PTP_HEADER.split("\t"))
    for c1, c2, eff, dele, mi in (r[:5] for r in rows):
        ws.append([c1, c2, None, int(eff), dele, int(mi), "Standards of medical / surgical practice"])
    wb.save(path)
    return path


def test_cms_zip_archives_import_through_the_command_as_one_version(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """Two of the split PTP archives, each with the table as text and xlsx, a readme and a pdf."""
    src = tmp_path / "src"
    src.mkdir()
    archives = []
    for part, rows in (("f1", PTP_ROWS[:4]), ("f2", PTP_ROWS[4:])):
        archive = tmp_path / f"ccipra-v321r0-{part}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(write_ptp(src / f"{part}.txt", rows), f"ccipra-v321r0-{part}.txt")
            zf.write(ptp_xlsx(src / f"{part}.xlsx", rows), f"ccipra-v321r0-{part}.xlsx")  # the same table again
            zf.writestr("Practitioner PTP Edits Read Me.txt", "Column 1\tColumn 2\tread me first\n")
            zf.writestr("NCCI_PTP_Edits_Overview.pdf", b"%PDF-1.4 not a table")
        archives.append(archive)

    code, out = cli(settings, *map(str, archives), "--json")
    assert code == 0, out
    body = json.loads(out.strip().splitlines()[-1])
    assert body["ok"] and body["kind"] == "ptp" and body["rows"] == len(PTP_ROWS), "each pair once, no readme"
    assert body["files"] == [str(a) for a in archives]
    with store.read() as conn:
        versions = conn.execute(select(edit_table_versions.c.files, edit_table_versions.c.active)).all()
        pairs = set(conn.execute(select(ncci_ptp.c.column1, ncci_ptp.c.column2)).all())
    assert [tuple(v) for v in versions] == [
        ("ccipra-v321r0-f1.zip:ccipra-v321r0-f1.txt;ccipra-v321r0-f2.zip:ccipra-v321r0-f2.txt", True)]
    assert pairs == {(r[0], r[1]) for r in PTP_ROWS}


def test_mue_zip_takes_the_practitioner_table(store: Store, tmp_path: Path) -> None:
    archive = tmp_path / "medicare-ncci-2026q4-practitioner-services-mue-table.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(write_mue(tmp_path / "p.txt", [("36415", 1, 2), ("97110", 6, 3)]),
                 "MCR_MUE_PractitionerServices_Eff_10-01-2026.txt")
        zf.write(write_mue(tmp_path / "d.txt", [("E0100", 1, 1)]), "MCR_MUE_DMESupplier_Eff_10-01-2026.txt")
        zf.writestr("MUE_ReadMe.pdf", b"%PDF-1.4")
    result = import_tables(store, [archive])
    assert (result.kind, result.rows) == ("mue", 2)
    with store.read() as conn:
        assert set(conn.execute(select(ncci_mue.c.code)).scalars()) == {"36415", "97110"}


def test_zip_without_a_table_is_refused_naming_the_archive_and_its_members(store: Store, tmp_path: Path) -> None:
    archive = tmp_path / "ncci-download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ReadMe.txt", "Column 1\tColumn 2\n")
        zf.writestr("docs/Overview.pdf", b"%PDF-1.4")
        zf.writestr("notes.txt", "hello\nworld\n")
    with pytest.raises(InputError) as err:
        import_tables(store, [archive])
    message = str(err.value)
    assert str(archive) in message and "no CMS NCCI PTP or MUE table" in message
    assert all(m in message for m in ("ReadMe.txt", "docs/Overview.pdf", "notes.txt"))
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="broken.zip: not a readable zip archive"):
        import_tables(store, [tmp_path / "broken.zip"])


def test_zip_members_with_traversal_names_are_read_but_never_written_outside(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.chdir(work)
    archive = work / "ccipra.zip"
    table = write_ptp(tmp_path / "t.txt", PTP_ROWS).read_bytes()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped-ccipra-f1.txt", table)
        zf.writestr(f"{tmp_path}/absolute-ccipra-f2.txt", table.replace(b"20610\t99214", b"20612\t99214"))
    result = import_tables(store, [archive])
    assert result.rows == 2 * len(PTP_ROWS)
    everything = {p.name for p in tmp_path.rglob("*")}
    assert not {"escaped-ccipra-f1.txt", "absolute-ccipra-f2.txt"} & everything, "nothing extracted by member path"
    assert list(private_tmp.iterdir()) == [], "the private copies are removed"
