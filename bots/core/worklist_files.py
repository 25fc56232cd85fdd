"""Reading a worklist file (CSV or XLSX, one row per service line) into rows of strings.

The file-level half of loading: which columns exist and which are required, the encoding and
delimiter of a CSV, Excel's date cells and formulas without a saved value. A file that cannot
be read at all raises one ``InputError`` saying why; judging each row is ``bots.core.worklist``'s.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bots.core.errors import InputError
from bots.core.logging import get_logger

__all__ = ["COLUMNS", "REQUIRED", "Uncached", "read_rows", "unreadable"]

log = get_logger("bots.worklist")

COLUMNS = (
    "claim_id", "payer_id", "member_id", "patient_name", "patient_dob", "date_of_service",
    "provider_npi", "line_no", "procedure_code", "modifiers", "units", "charge", "diagnosis_codes",
    "diagnosis_pointers", "prior_auth_number", "note_id", "note_signed", "note_date", "time_minutes",
    "submitted_date", "expected_amount",
)
REQUIRED = ("claim_id", "payer_id", "member_id", "patient_name", "patient_dob", "date_of_service",
            "line_no", "procedure_code", "units", "charge")


def _norm_header(h: Any) -> str:
    return str(h or "").strip().lower().replace(" ", "_")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return str(v).strip()


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number as a spreadsheet shows it, row as strings keyed by column).

    A file that cannot be read as a worklist at all (not text, an encoding we cannot tell, the
    wrong delimiter, a broken xlsx) raises ``InputError`` with one sentence saying why, never
    a parser's exception: the CLI and the inbox report it as it is.
    """
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows = _read_xlsx(path)
    elif suffix in (".csv", ".txt"):
        rows = _read_csv(path)
    else:
        raise InputError(f"{path}: unsupported worklist type {suffix!r}; use .csv or .xlsx")
    try:
        yield from rows
    except InputError:
        raise
    except (csv.Error, UnicodeError, ValueError, KeyError, OSError, EOFError) as exc:
        raise unreadable(path, exc) from None


def unreadable(path: Path, exc: BaseException) -> InputError:
    """The one message for a worklist a parser gave up on (used by the loader and the inbox)."""
    if isinstance(exc, InputError):
        return exc
    return InputError(f"{path}: not a readable worklist ({type(exc).__name__}: {exc}); "
                      "save it from Excel as .xlsx or as CSV UTF-8 (comma delimited)")


def _check_header(path: Path, header: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path}: row 1 (header): missing required column(s) {', '.join(missing)}")


def _decode(path: Path, raw: bytes) -> str:
    """The text of a CSV: UTF-8 (with or without BOM), UTF-16/32 with a BOM, or Windows-1252."""
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                     (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if raw.startswith(bom):
            try:
                text = raw.decode(enc)
            except UnicodeDecodeError:
                raise InputError(f"{path}: starts with a {enc.upper()} byte-order mark but is not valid "
                                 f"{enc.upper()} text; save it as CSV UTF-8 (comma delimited)") from None
            log.info("worklist_encoding", file=path.name, encoding=enc)
            return text
    if b"\x00" in raw[:4096]:
        # UTF-16 without a byte-order mark puts a NUL beside every ASCII letter; binary files have NULs too.
        kind = "UTF-16 text without a byte-order mark" if raw[1:4096:2].count(0) > len(raw[:4096]) // 4 \
            else "binary data, not text"
        raise InputError(f"{path}: looks like {kind}; save it from Excel as .xlsx or as CSV UTF-8 (comma delimited)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("cp1252")  # Excel's "CSV" on Windows
    except UnicodeDecodeError:
        raise InputError(f"{path}: neither UTF-8 nor Windows-1252 text (binary data?); "
                         "save it from Excel as .xlsx or as CSV UTF-8 (comma delimited)") from None
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > len(sample) // 100:
        raise InputError(f"{path}: looks like binary data, not text; "
                         "save it from Excel as .xlsx or as CSV UTF-8 (comma delimited)")
    return text


def _check_delimiter(path: Path, first_line: str, header: list[str]) -> None:
    """A header that names the required columns only when split on ``;`` or a tab is the wrong delimiter."""
    if all(c in header for c in REQUIRED):
        return
    for delim, name in ((";", "semicolon"), ("\t", "tab")):
        split = [_norm_header(h.strip().strip('"')) for h in first_line.split(delim)]
        if sum(c in split for c in REQUIRED) > sum(c in header for c in REQUIRED):
            raise InputError(f"{path}: row 1 (header): looks {name}-delimited: save it comma-separated "
                             "(in Excel: Save As, CSV UTF-8 (comma delimited))")


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    text = _decode(path, path.read_bytes())
    reader = csv.reader(io.StringIO(text))
    try:
        header = [_norm_header(h) for h in next(reader)]
    except StopIteration:
        raise InputError(f"{path}: empty file") from None
    _check_delimiter(path, text.split("\n", 1)[0], header)
    _check_header(path, header)
    for n, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        yield n, {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header) if h}


class Uncached(str):
    """An xlsx cell holding a formula but no saved result (written by a program, never opened in
    Excel): its value is unknown, which is not the same as empty."""

    formula: str


def _uncached(formula: Any) -> Uncached:
    u = Uncached("")
    u.formula = str(formula)
    return u


def _read_xlsx(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
        # The same sheet with formulas instead of results: tells "empty" from "formula never calculated".
        wf = load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        formulas = wf.worksheets[0].iter_rows(values_only=True)
        try:
            header = [_norm_header(h) for h in next(rows)]
            next(formulas, None)
        except StopIteration:
            raise InputError(f"{path}: empty worksheet") from None
        _check_header(path, header)
        for n, values in enumerate(rows, start=2):
            raw_formulas = next(formulas, ())
            cells: list[str] = [_cell(v) for v in values]
            for i, v in enumerate(values):
                if v is None and i < len(raw_formulas) and isinstance(raw_formulas[i], str) \
                        and raw_formulas[i].startswith("="):
                    cells[i] = _uncached(raw_formulas[i])
            if not any(cells) and not any(isinstance(c, Uncached) for c in cells):
                continue
            yield n, {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h}
    finally:
        wb.close()
        wf.close()
