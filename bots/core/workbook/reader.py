"""Read the coders' columns back out of the exception workbook, quickly.

Only the Exception ID and the six coder-owned columns matter here: the store
owns everything else. openpyxl's read-only mode turns every cell of the file
into a Python object (about 16 s for 60,000 rows x 27 columns on the 2-core
box), far over the budget of a merge. So this module opens the package with
``zipfile``, resolves sheets, shared strings and the date system as the OOXML
spec says, finds the header row of each sheet by its names (coders move
columns and rows), and pulls just the needed columns out of the sheet XML with
a regular expression. That is exact because Excel, LibreOffice and our own
writer put the ``r`` attribute first on every cell, which is checked per sheet
before the fast path is used; a sheet that looks different (a namespace
prefix, cells without ``r``) is parsed with ElementTree instead: slower, same
answer.

Rows are matched by Exception ID wherever they are: sorted, filtered, hidden,
moved to another sheet, or with blank rows inserted between them. Every row an
ID appears on is kept, with the Claim ID and Rule ID it shows, so the merge can
tell an ID that was copied or typed onto another claim's row (``identity``).

Size: one module on purpose (about 470 lines). The fast XML path and the openpyxl fallback
read the same cells into the same ``ReadBack``, and the header search, the identity columns and
the error mapping are shared by both; split apart, each half would import the other's internals.
"""

from __future__ import annotations

import html
import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from bots.core.workbook.layout import (
    APPEAL_DOC_PREFIX, APPEAL_EVIDENCE_COLUMNS, APPEAL_PREPARATION, CODER_COLUMNS, LISTS_SHEET, QUALITY_COLUMNS,
    QUALITY_SHEET, QUEUE_SHEETS, SUMMARY_SHEET, column_letter,
)
from bots.core.workbook.trends import TRENDS_SHEET

__all__ = ["IDENTITY_COLUMNS", "ReadBack", "SeenRow", "WorkbookUnreadable", "coder_value", "read_coder_columns",
           "shown_text"]

ID_HEADER = "Exception ID"
# Bot-owned cells that never legitimately change on a row: (header, store field). A row's
# Exception ID must agree with them (checked in ``identity``).
IDENTITY_COLUMNS = (("Claim ID", "claim_id"), ("Rule ID", "rule_id"))
DATE_FIELDS = ("resolved_on", "submitted_on")  # coder date cells: a serial becomes an ISO date
HEADER_SCAN_ROWS = 20  # the header is row 1 as written; allow rows a coder inserted above it
MAX_SERIAL = 2958465  # 9999-12-31, the last date Excel knows

_CELL_ANY = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"([^>]*?)(?:/>|>(.*?)</c>)', re.S)
_TYPE = re.compile(rb'\st="([A-Za-z]+)"')
_VALUE = re.compile(rb"<v(?:\s[^>]*)?>(.*?)</v>", re.S)
_TEXT = re.compile(rb"<t(?:\s[^>]*)?>(.*?)</t>", re.S)
_PHONETIC = re.compile(rb"<rPh\b.*?</rPh>", re.S)
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
# Sheets of ours without exception rows: not read, and not "someone else's sheet" either.
_OUR_OTHER_SHEETS = {SUMMARY_SHEET, LISTS_SHEET, TRENDS_SHEET}
_READ_ERRORS = (KeyError, ValueError, IndexError, ET.ParseError, zipfile.BadZipFile, zlib.error, EOFError,
                UnicodeDecodeError)


class WorkbookUnreadable(Exception):
    """The file is not a workbook we can read our rows from: corrupt, or someone else's."""


@dataclass
class SeenRow:
    """One row of the file: where it is, the identity cells it shows (only the columns its
    sheet has), its coder cells, and its position in the file."""

    sheet: str
    row: int
    pos: int
    shown: dict[str, str | None]
    values: dict[str, str | None]


@dataclass
class ReadBack:
    """What the coders' columns of an existing workbook say.

    ``seen`` maps an Exception ID to every row showing it, in file order (more
    than one: the ID was copied); ``values`` is the coder fields of its last row
    (only the columns the sheet has; a deleted column keeps the stored values).
    ``order`` is each ID's first position in the file, so a rewrite keeps the
    coders' sort. ``keep_copy`` means something in the file could not be merged
    (a foreign sheet, an unreadable sheet, entries on a row without an
    Exception ID): the caller keeps a copy before replacing the file.
    """

    seen: dict[str, list[SeenRow]] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)
    sheets: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    keep_copy: bool = False
    rows: int = 0
    # The Quality Review sheet: Sample ID -> every row showing it (Decision Ref and the QA cells).
    quality: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    # The Appeal Preparation sheet's own coder cells: Exception ID -> every row showing it
    # (checklist cells keyed by their header, "Doc: <item>"; the submission cells by field).
    appeals: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, dict[str, str | None]]:
        return {ident: rows[-1].values for ident, rows in self.seen.items()}


_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def shown_text(raw: Any) -> str | None:
    """A bot-owned text cell as compared with the store: what the writer can put in a cell
    (no control characters), trimmed; a number a coder typed as its text; blank is None."""
    if raw is None:
        return None
    if type(raw) is str and raw.isprintable():  # the usual cell, without the regular expression
        return raw.strip() or None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = _ILLEGAL.sub("", str(raw)).strip()
    return text or None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(raw: bytes) -> str:
    s = raw.decode("utf-8")
    if "&" in s:
        s = html.unescape(s)
    if "_x" in s:  # OOXML's escape for control characters, e.g. _x000D_
        s = _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), s)
    return s


def _number(raw: str | bytes) -> float | int:
    v = float(raw)
    return int(v) if v.is_integer() and abs(v) < 1e15 else v


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def coder_value(field_name: str, raw: Any, epoch: date) -> str | None:
    """A coder cell as the store keeps it: trimmed text, ``None`` for blank.

    Resolved On becomes an ISO date when the cell holds a date (a serial
    number to the file format, whatever the display format); text a coder
    typed there stays as typed.
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, (int, float)):
        if field_name in DATE_FIELDS and 0 < raw <= MAX_SERIAL:
            return (epoch + timedelta(days=int(raw))).isoformat()
        return str(int(raw)) if float(raw).is_integer() else str(raw)
    text = str(raw).strip()
    if field_name in DATE_FIELDS and len(text) >= 10 and text[4:5] == "-" and text[10:11] in ("T", " "):
        text = text[:10]  # an ISO date-time cell (t="d"): the date is what counts
    return text or None


class _Package:
    """The parts of an xlsx package we need: sheet names and parts, shared strings, epoch."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        book = self._main_part()
        rels = self._rels(book)
        root = ET.fromstring(zf.read(book))
        self.epoch = date(1899, 12, 30)
        self.sheets: list[tuple[str, str]] = []
        for el in root.iter():
            tag = _local(el.tag)
            if tag == "workbookPr" and el.get("date1904", "").lower() in ("1", "true"):
                self.epoch = date(1904, 1, 1)
            elif tag == "sheet":
                rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
                target = rels.get(rid or "")
                if target and target[0].endswith("/worksheet"):
                    self.sheets.append((el.get("name", ""), target[1]))
        strings_part = next((t for kind, t in rels.values() if kind.endswith("/sharedStrings")), None)
        self.strings = self._shared_strings(strings_part) if strings_part and strings_part in zf.namelist() else []

    def _main_part(self) -> str:
        try:
            root = ET.fromstring(self.zf.read("_rels/.rels"))
        except KeyError:
            return "xl/workbook.xml"
        for rel in root:
            if rel.get("Type", "").endswith("/officeDocument"):
                return rel.get("Target", "").lstrip("/")
        return "xl/workbook.xml"

    def _rels(self, part: str) -> dict[str, tuple[str, str]]:
        folder, name = posixpath.split(part)
        root = ET.fromstring(self.zf.read(posixpath.join(folder, "_rels", f"{name}.rels")))
        rels = {}
        for rel in root:
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target))
            rels[rel.get("Id", "")] = (rel.get("Type", ""), target)
        return rels

    def _shared_strings(self, part: str) -> list[str]:
        strings: list[str] = []
        for _event, el in ET.iterparse(self.zf.open(part), events=("end",)):
            if _local(el.tag) == "si":
                strings.append(_si_text(el))
                el.clear()
        return strings


def _si_text(el: ET.Element) -> str:
    """Text of a shared or inline string: plain ``t`` or rich-text runs; phonetic runs are not text."""
    parts = []
    for child in el:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    s = "".join(parts)
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), s) if "_x" in s else s


class _FastSheet:
    """Cells straight from the sheet XML by regular expression (see the module docstring)."""

    def __init__(self, data: bytes, strings: list[str]):
        self.data = data
        self.strings = strings

    @staticmethod
    def usable(data: bytes) -> bool:
        return b"<sheetData" in data and b"<c>" not in data and data.count(b"<c ") == data.count(b'<c r="')

    def cells(self, columns: set[str] | None = None) -> Iterator[tuple[int, str, Any]]:
        pattern = _CELL_ANY
        if columns is not None:
            pattern = re.compile(
                rb'<c r="(' + b"|".join(c.encode() for c in sorted(columns)) + rb')([0-9]+)"([^>]*?)(?:/>|>(.*?)</c>)',
                re.S)
        strings = self.strings
        for m in pattern.finditer(self.data):
            letters, row, attrs, inner = m.groups()
            yield int(row), letters.decode(), None if inner is None else _fast_value(attrs, inner, strings)


def _fast_value(attrs: bytes, inner: bytes, strings: list[str]) -> Any:
    t = _TYPE.search(attrs)
    kind = t.group(1) if t else b"n"
    if kind == b"inlineStr":
        if b"<rPh" in inner:
            inner = _PHONETIC.sub(b"", inner)
        return _text(b"".join(_TEXT.findall(inner)))
    v = _VALUE.search(inner)
    if v is None:
        return None
    raw = v.group(1)
    if kind == b"s":
        return strings[int(raw)]
    if kind in (b"str", b"e", b"d"):
        return _text(raw)
    if kind == b"b":
        return raw.strip() == b"1"
    return _number(raw) if raw.strip() else None


class _TreeSheet:
    """Cells by ElementTree: any namespace prefix, cells with or without ``r``."""

    def __init__(self, data: bytes, strings: list[str]):
        self.data = data
        self.strings = strings

    def cells(self, columns: set[str] | None = None) -> Iterator[tuple[int, str, Any]]:
        row_no = 0
        for _event, el in ET.iterparse(io.BytesIO(self.data), events=("end",)):
            if _local(el.tag) != "row":
                continue
            r = el.get("r")
            row_no = int(r) if r else row_no + 1
            col_no = 0
            for c in el:
                if _local(c.tag) != "c":
                    continue
                ref = c.get("r")
                if ref:
                    letters = ref.rstrip("0123456789")
                    col_no = _col_index(letters)
                else:
                    col_no += 1
                    letters = column_letter(col_no)
                if columns is None or letters in columns:
                    yield row_no, letters, self._value(c)
            el.clear()

    def _value(self, c: ET.Element) -> Any:
        kind = c.get("t", "n")
        if kind == "inlineStr":
            box = next((ch for ch in c if _local(ch.tag) == "is"), None)
            return None if box is None else _si_text(box)
        v = next((ch for ch in c if _local(ch.tag) == "v"), None)
        if v is None or v.text is None:
            return None
        if kind == "s":
            return self.strings[int(v.text)]
        if kind in ("str", "e", "d"):
            return v.text
        if kind == "b":
            return v.text.strip() == "1"
        return _number(v.text) if v.text.strip() else None


def _find_header(sheet: _FastSheet | _TreeSheet, id_header: str = ID_HEADER) -> tuple[int, dict[str, str]] | None:
    """The first row (within HEADER_SCAN_ROWS) holding an ``id_header`` cell (``Exception ID``):
    its number and a map header name -> column letters."""
    rows: dict[int, dict[str, str]] = {}
    for row, letters, value in sheet.cells():
        if row > HEADER_SCAN_ROWS:
            break
        if isinstance(value, str) and value.strip():
            rows.setdefault(row, {})[value.strip()] = letters
    for row in sorted(rows):
        if id_header in rows[row]:
            return row, rows[row]
    return None


@dataclass
class _SheetResult:
    rows: int = 0
    orphans: int = 0


def _read_sheet(sheet: _FastSheet | _TreeSheet, name: str, header: tuple[int, dict[str, str]], out: ReadBack,
                epoch: date, counter: list[int]) -> _SheetResult:
    header_row, names = header
    id_col = names[ID_HEADER]
    fields = {names[c.header]: c.field for c in CODER_COLUMNS if c.header in names}
    identity = {names[h]: f for h, f in IDENTITY_COLUMNS if h in names}
    appeal: dict[str, str] = {}
    if name == APPEAL_PREPARATION:
        appeal = {letters: h for h, letters in names.items() if h.startswith(APPEAL_DOC_PREFIX)}
        appeal.update((names[c.header], c.field) for c in APPEAL_EVIDENCE_COLUMNS if c.header in names)
    result = _SheetResult()
    current_row, cells = -1, {}

    def flush() -> None:
        if current_row <= header_row:
            return
        ident = cells.get(id_col)
        ident = ident.strip() if isinstance(ident, str) else (None if ident is None else str(ident))
        vals = {f: coder_value(f, cells.get(letters), epoch) for letters, f in fields.items()}
        if not ident:
            if any(v is not None for v in vals.values()):
                result.orphans += 1
            return
        result.rows += 1
        pos = counter[0]
        counter[0] += 1
        shown = {f: shown_text(cells.get(letters)) for letters, f in identity.items()}
        out.seen.setdefault(ident, []).append(SeenRow(name, current_row, pos, shown, vals))
        out.order.setdefault(ident, pos)
        if appeal:
            out.appeals.setdefault(ident, []).append(
                {f: coder_value(f, cells.get(letters), epoch) for letters, f in appeal.items()})

    for row, letters, value in sheet.cells({id_col, *fields, *identity, *appeal}):
        if row != current_row:
            flush()
            current_row, cells = row, {}
        cells[letters] = value
    flush()
    return result


QA_ID_HEADER = "Sample ID"


def _read_quality(sheet: _FastSheet | _TreeSheet, out: ReadBack, epoch: date) -> None:
    """The Quality Review sheet's rows: Sample ID, the Decision Ref it shows, the QA cells."""
    header = _find_header(sheet, QA_ID_HEADER)
    if header is None:
        out.problems.append(f"sheet {QUALITY_SHEET!r} has no header row with {QA_ID_HEADER!r}: QA entries could "
                            "not be read")
        out.keep_copy = True
        return
    header_row, names = header
    wanted = {c.header: c.field for c in QUALITY_COLUMNS if c.coder or c.field == "decision_ref"}
    fields = {names[h]: f for h, f in wanted.items() if h in names}
    id_col = names[QA_ID_HEADER]
    rows: dict[int, dict[str, Any]] = {}
    for row, letters, value in sheet.cells({id_col, *fields}):
        if row > header_row:
            rows.setdefault(row, {})[letters] = value
    for cells in rows.values():
        ident = shown_text(cells.get(id_col))
        if ident:
            values = {f: (shown_text(cells.get(letters)) if f == "decision_ref" else
                          coder_value(f, cells.get(letters), epoch)) for letters, f in fields.items()}
            out.quality.setdefault(ident, []).append(values)


def read_coder_columns(path: Path) -> ReadBack:
    """Read every row's coder-owned cells, keyed by Exception ID.

    Raises :class:`WorkbookUnreadable` when the file is not an xlsx package or
    no sheet has our header row, and ``OSError`` when it cannot be opened at
    all; problems with single sheets or rows are reported in ``problems`` and
    do not stop the rest from being read.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise WorkbookUnreadable(f"not an xlsx file ({exc})") from None
    out = ReadBack()
    counter = [0]  # rows read so far, across sheets: a row's position in the file
    with zf:
        try:
            package = _Package(zf)
        except _READ_ERRORS as exc:
            raise WorkbookUnreadable(f"damaged xlsx package ({type(exc).__name__}: {exc})") from None
        for name, part in package.sheets:
            try:
                data = zf.read(part)
                sheet: _FastSheet | _TreeSheet = (
                    _FastSheet(data, package.strings) if _FastSheet.usable(data) else _TreeSheet(data, package.strings))
                if name == QUALITY_SHEET:
                    _read_quality(sheet, out, package.epoch)
                    continue
                header = _find_header(sheet)
                if header is None:
                    if name not in _OUR_OTHER_SHEETS and (name in QUEUE_SHEETS or b"<c " in data):
                        out.keep_copy = True
                        out.problems.append(
                            f"sheet {name!r} has no header row with {ID_HEADER!r}: its rows could not be read"
                            if name in QUEUE_SHEETS else
                            f"sheet {name!r} is not part of the exception workbook and is not in the new one")
                    continue
                result = _read_sheet(sheet, name, header, out, package.epoch, counter)
            except _READ_ERRORS as exc:
                out.keep_copy = True
                out.problems.append(f"sheet {name!r} could not be read ({type(exc).__name__}: {exc})")
                continue
            out.sheets.append(name)
            out.rows += result.rows
            missing = [c.header for c in CODER_COLUMNS if c.header not in header[1] and not c.optional]
            if missing:
                out.keep_copy = True
                out.problems.append(f"sheet {name!r} lacks column(s) {', '.join(missing)}: "
                                    "their last known values are kept")
            if result.orphans:
                out.keep_copy = True
                out.problems.append(f"sheet {name!r}: {result.orphans} row(s) have coder entries but no "
                                    f"{ID_HEADER}; those entries could not be matched to an exception")
    if not out.sheets:
        raise WorkbookUnreadable(f"no sheet has the exception workbook's header row ({ID_HEADER} … Resolved On)")
    return out
