"""Reading a worklist file (CSV or XLSX, one row per service line) into rows of strings.

The file-level half of loading: which columns exist and which are required, the encoding and
delimiter of a CSV, Excel's date cells and formulas without a saved value. A file that cannot
be read at all raises one ``InputError`` saying why; judging each row is ``bots.core.worklist``'s.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bots.core.errors import InputError
from bots.core.logging import get_logger

__all__ = ["COLUMNS", "REQUIRED", "Uncached", "norm_header", "read_rows", "read_values", "unreadable"]

log = get_logger("bots.worklist")

COLUMNS = (
    "claim_id", "payer_id", "member_id", "patient_name", "patient_dob", "date_of_service",
    "provider_npi", "line_no", "procedure_code", "modifiers", "units", "charge", "diagnosis_codes",
    "diagnosis_pointers", "prior_auth_number", "note_id", "note_signed", "note_date", "time_minutes",
    "submitted_date", "expected_amount",
)
REQUIRED = ("claim_id", "payer_id", "member_id", "patient_name", "patient_dob", "date_of_service",
            "line_no", "procedure_code", "units", "charge")


def norm_header(h: Any) -> str:
    """A header as compared: case and spaces do not matter ("Claim ID" is claim_id)."""
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


def read_rows(path: Path, *, aliases: Mapping[str, str] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number as a spreadsheet shows it, row as strings keyed by column), one row at a time.

    ``read_values`` with each row as a dict of ``COLUMNS``.
    """
    for n, values in read_values(path, aliases=aliases):
        yield n, dict(zip(COLUMNS, values, strict=True))


def read_values(path: Path, *, aliases: Mapping[str, str] | None = None) -> Iterator[tuple[int, tuple[str, ...]]]:
    """(row number as a spreadsheet shows it, the row's strings in ``COLUMNS`` order), one row at a time.

    The file is streamed: memory does not grow with its length. ``aliases`` maps a header as a
    worklist profile names it (normalised like every header: lower case, spaces as ``_``) to one
    of ``COLUMNS``; several headers may map to ``modifiers`` or ``diagnosis_codes`` ("Mod 1",
    "Mod 2"), whose non-empty values are joined with ``;``. A column the file lacks is "".

    A file that cannot be read as a worklist at all (not text, an encoding we cannot tell, the
    wrong delimiter, a broken xlsx) raises ``InputError`` with one sentence saying why, never
    a parser's exception: the CLI and the inbox report it as it is.
    """
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows = _read_xlsx(path, aliases or {})
    elif suffix in (".csv", ".txt"):
        rows = _read_csv(path, aliases or {})
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


# Columns several headers of an export may fill ("Mod 1" … "Mod 4", "Dx 1" … "Dx 12").
_JOINED = frozenset({"modifiers", "diagnosis_codes"})


class _Header:
    """Which position of a row goes to which column, worked out once from the header row."""

    def __init__(self, path: Path, cells: list[Any], aliases: Mapping[str, str]) -> None:
        names = [norm_header(h) for h in cells]
        self.columns: list[tuple[int, str]] = []
        for i, name in enumerate(names):
            col = aliases.get(name, name)
            if col in COLUMNS:
                self.columns.append((i, col))
        found = {c for _, c in self.columns}
        for col in found - _JOINED:
            twice = [cells[i] for i, c in self.columns if c == col]
            if len(twice) > 1:
                raise InputError(f"{path}: row 1 (header): {' and '.join(repr(str(h)) for h in twice)} are both "
                                 f"{col}; keep one of them")
        missing = [c for c in REQUIRED if c not in found]
        if missing:
            hint = "" if aliases else ("; another system's export with its own headers loads with a worklist "
                                       "profile that maps them (--profile NAME, config/worklists/)")
            raise InputError(f"{path}: row 1 (header): missing required column(s) {', '.join(missing)}{hint}")
        # Per column, the cell positions that fill it; -1 (the "" appended to every row) when the file lacks it.
        self.slots = [[i for i, c in self.columns if c == col] for col in COLUMNS]
        self.simple = all(len(s) <= 1 for s in self.slots)
        self.single = [s[0] if s else -1 for s in self.slots]
        self.width = len(cells)

    def values(self, cells: list[Any]) -> tuple[str, ...]:
        width = len(cells)
        if self.simple:
            if width < self.width:
                cells.extend([""] * (self.width - width))
            cells.append("")
            return tuple(map(cells.__getitem__, self.single))
        out = []
        for slots in self.slots:
            found = [cells[i] for i in slots if i < width and cells[i] != ""]
            # Joined columns (Mod 1 … Mod 4) read "25;59"; an uncalculated formula stays itself.
            out.append(found[0] if len(found) == 1 else ";".join(found) if found else
                       next((cells[i] for i in slots if i < width and isinstance(cells[i], Uncached)), ""))
        return tuple(out)


def _encoding(path: Path) -> str:
    """The encoding of a CSV: UTF-8 (with or without BOM), UTF-16/32 with a BOM, or Windows-1252.

    Decided from the first bytes and one incremental decoding pass (nothing kept), so the file
    is then read as a stream."""
    with path.open("rb") as fh:
        head = fh.read(_CHUNK)
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                     (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if head.startswith(bom):
            if not _decodes(path, enc):
                raise InputError(f"{path}: starts with a {enc.upper()} byte-order mark but is not valid "
                                 f"{enc.upper()} text; save it as CSV UTF-8 (comma delimited)")
            log.info("worklist_encoding", file=path.name, encoding=enc)
            return enc
    if b"\x00" in head[:4096]:
        # UTF-16 without a byte-order mark puts a NUL beside every ASCII letter; binary files have NULs too.
        kind = "UTF-16 text without a byte-order mark" if head[1:4096:2].count(0) > len(head[:4096]) // 4 \
            else "binary data, not text"
        raise InputError(f"{path}: looks like {kind}; save it from Excel as .xlsx or as CSV UTF-8 (comma delimited)")
    if _decodes(path, "utf-8-sig"):
        return "utf-8-sig"
    if not _decodes(path, "cp1252"):  # Excel's "CSV" on Windows
        raise InputError(f"{path}: neither UTF-8 nor Windows-1252 text (binary data?); "
                         "save it from Excel as .xlsx or as CSV UTF-8 (comma delimited)")
    sample = head[:4096].decode("cp1252")
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > len(sample) // 100:
        raise InputError(f"{path}: looks like binary data, not text; "
                         "save it from Excel as .xlsx or as CSV UTF-8 (comma delimited)")
    return "cp1252"


_CHUNK = 1 << 20


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _check_delimiter(path: Path, first_line: str, header: list[str], aliases: Mapping[str, str]) -> None:
    """A header that names the required columns only when split on ``;`` or a tab is the wrong delimiter."""
    def known(names: list[str]) -> int:
        return sum(c in {aliases.get(n, n) for n in names} for c in REQUIRED)

    if known(header) == len(REQUIRED):
        return
    for delim, name in ((";", "semicolon"), ("\t", "tab")):
        split = [norm_header(h.strip().strip('"')) for h in first_line.split(delim)]
        if known(split) > known(header):
            raise InputError(f"{path}: row 1 (header): looks {name}-delimited: save it comma-separated "
                             "(in Excel: Save As, CSV UTF-8 (comma delimited))")


def _read_csv(path: Path, aliases: Mapping[str, str]) -> Iterator[tuple[int, tuple[str, ...]]]:
    encoding = _encoding(path)
    with path.open(encoding=encoding, newline="") as fh:
        first_line = fh.readline()
        if not first_line:
            raise InputError(f"{path}: empty file")
        reader = csv.reader(itertools.chain([first_line], fh))
        cells = next(reader)
        _check_delimiter(path, first_line.split("\n", 1)[0], [norm_header(h) for h in cells], aliases)
        header = _Header(path, cells, aliases)
        for n, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            yield n, header.values([v.strip() for v in values])


class Uncached(str):
    """An xlsx cell holding a formula but no saved result (written by a program, never opened in
    Excel): its value is unknown, which is not the same as empty."""

    formula: str


def _uncached(formula: Any) -> Uncached:
    u = Uncached("")
    u.formula = str(formula)
    return u


def _cells_parser() -> type:
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class CellsAndFormulas(WorkSheetParser):  # type: ignore[misc]
        """openpyxl's read-only sheet parser, reading saved results (``data_only``) but keeping a
        formula whose result was never saved as ``Uncached``: one pass over the sheet tells
        "empty" from "formula never calculated" (the old way parsed the sheet twice)."""

        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell = super().parse_cell(element)
            if cell["value"] is None and element.find(FORMULA_TAG) is not None:
                formula = self.parse_formula(element)
                cell["value"] = _uncached(getattr(formula, "text", formula))
            return cell

    return CellsAndFormulas


def _read_xlsx(path: Path, aliases: Mapping[str, str]) -> Iterator[tuple[int, tuple[str, ...]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise InputError(f"{path}: not a readable xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        ws = wb.worksheets[0]
        header: _Header | None = None
        # openpyxl's own parser class on the sheet's XML stream (openpyxl is pinned below 4): the
        # public iter_rows() cannot give a cell's saved result and its formula in one pass.
        with ws._get_source() as src:
            parser = _cells_parser()(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                                     date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
            for n, parsed in parser.parse():
                if not parsed:
                    continue
                width = max(c["column"] for c in parsed)
                cells: list[Any] = [""] * width
                for c in parsed:
                    v = c["value"]
                    cells[c["column"] - 1] = v if isinstance(v, Uncached) else _cell(v)
                if header is None:
                    header = _Header(path, cells, aliases)
                    continue
                if not any(cells) and not any(isinstance(c, Uncached) for c in cells):
                    continue
                yield n, header.values(cells)
        if header is None:
            raise InputError(f"{path}: empty worksheet")
    finally:
        wb.close()
