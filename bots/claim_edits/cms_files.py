"""Reading CMS NCCI PTP and MUE table files: text (tab or comma) or xlsx, and recognising which
table a file holds and where its data starts.

CMS files open with a copyright preamble, spread some header cells over continuation lines,
and lose leading zeros when opened in Excel; this module deals with all of that so the
importer sees plain rows of cells with their line numbers.

CMS distributes the tables as zip archives (the PTP table as ``ccipra-…-f1.zip`` … ``-f4.zip``,
each holding the table as text and xlsx plus a readme; MUE with the practitioner table and its
notes). :func:`table_files` opens them: it takes the table members, skips the rest, and writes
the members it takes to a private temporary directory under names of its own, so a member
named ``../../x`` can never land anywhere else.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from bots.claim_edits.tables import MUE, PTP
from bots.core.errors import InputError

__all__ = ["MAX_PREAMBLE_ROWS", "TableFile", "TableLayout", "data_rows", "detect_kind", "is_code", "table_files",
           "table_layout"]

# How far into a file the header (after the CMS copyright preamble) may start.
MAX_PREAMBLE_ROWS = 200


# ---- reading rows ------------------------------------------------------------------------------

def _text_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        sample = fh.read(65536)
        fh.seek(0)
        delimiter = "\t" if "\t" in sample else ","
        reader = csv.reader(fh, delimiter=delimiter)
        for row in reader:
            yield reader.line_num, row


def _xlsx_cell(value: Any, col: int) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y%m%d")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        # Excel turns code 00100 into the number 100; codes are the first two columns.
        return str(value).zfill(5) if col < 2 else str(value)
    return str(value)


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise InputError(f"{path}: not a readable xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        for n, values in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1):
            yield n, [_xlsx_cell(v, i) for i, v in enumerate(values)]
    finally:
        wb.close()


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    if suffix in (".txt", ".csv", ".tsv", ""):
        return _text_rows(path)
    raise InputError(f"{path}: unsupported file type {suffix!r}; use the CMS .txt/.csv file, .xlsx or the CMS .zip")


# ---- recognising the layout ----------------------------------------------------------------------

def is_code(value: str) -> bool:
    return len(value) == 5 and value.isascii() and value.isalnum()


def _header_kind(cells: list[str]) -> str | None:
    low = [c.strip().lower() for c in cells]
    if any(c.startswith("column 1") for c in low) and any(c.startswith("column 2") for c in low):
        return PTP
    if low and ("hcpcs" in low[0] or "cpt" in low[0]) and any("mue" in c for c in low[1:]):
        return MUE
    return None


def _data_kind(cells: list[str]) -> str | None:
    c = [x.strip() for x in cells]
    if len(c) >= 6 and is_code(c[0].upper()) and is_code(c[1].upper()) and c[5] in ("0", "1", "9"):
        return PTP
    if len(c) >= 3 and is_code(c[0].upper()) and c[1].isdigit() and c[2][:1] in ("1", "2", "3"):
        return MUE
    return None


@dataclass
class TableLayout:
    kind: str
    header_line: int | None  # None: no header; data starts at first_data_line
    first_data_line: int = 0
    columns: dict[str, int] = field(default_factory=dict)


def _mue_columns(header: list[str]) -> dict[str, int]:
    cols = {"code": 0, "value": 1, "mai": 2, "rationale": 3}
    for i, cell in enumerate(c.strip().lower() for c in header):
        if i == 0:
            continue
        if "adjudication" in cell or cell == "mai":
            cols["mai"] = i
        elif "rationale" in cell:
            cols["rationale"] = i
        elif "mue" in cell and "value" in cell:
            cols["value"] = i
    return cols


def table_layout(path: Path) -> TableLayout:
    for n, (line, cells) in enumerate(_rows(path)):
        if n >= MAX_PREAMBLE_ROWS:
            break
        kind = _header_kind(cells)
        if kind is not None:
            return TableLayout(kind, line, columns=_mue_columns(cells) if kind == MUE else {})
        kind = _data_kind(cells)
        if kind is not None:
            return TableLayout(kind, None, line, {"code": 0, "value": 1, "mai": 2, "rationale": 3} if kind == MUE else {})
    raise InputError(
        f"{path}: not a CMS NCCI PTP or MUE table: no 'Column 1 / Column 2' (PTP) or "
        f"'HCPCS/CPT Code … MUE' header and no data row in the first {MAX_PREAMBLE_ROWS} lines")


def detect_kind(path: Path) -> str:
    """``"ptp"`` or ``"mue"`` for a CMS table file; ``InputError`` if it is neither."""
    return table_layout(Path(path)).kind


def data_rows(path: Path, layout: TableLayout) -> Iterator[tuple[int, list[str]]]:
    """Rows after the header (and its continuation lines), skipping blank lines."""
    rows = _rows(path)
    if layout.header_line is not None:
        for line, _cells in rows:
            if line >= layout.header_line:
                break
        started = False
        for line, cells in rows:
            if not started:
                # CMS spreads some header cells over extra lines ("0=not allowed" …) with an empty first cell.
                if not cells or not cells[0].strip():
                    continue
                started = True
            if cells and (cells[0] or any(c.strip() for c in cells)):
                yield line, cells
    else:
        for line, cells in rows:
            if line >= layout.first_data_line and any(c.strip() for c in cells):
                yield line, cells


# ---- zip archives as CMS distributes them ---------------------------------------------------------

TEXT_SUFFIXES = (".txt", ".csv", ".tsv")
TABLE_SUFFIXES = TEXT_SUFFIXES + (".xlsx", ".xlsm")
_NOT_TABLES = re.compile(r"read[\s_-]*me|licen[cs]e", re.IGNORECASE)


@dataclass(frozen=True)
class TableFile:
    """A table file to import: ``name`` for people (``archive.zip:member`` for a zip member)."""

    name: str
    path: Path


def _member_name(info: zipfile.ZipInfo) -> str:
    return PurePosixPath(info.filename.replace("\\", "/")).name


def _candidate(info: zipfile.ZipInfo) -> bool:
    """A member that may hold a table: a text or xlsx file, not a readme, not macOS metadata."""
    name = _member_name(info)
    return (not info.is_dir() and "__MACOSX/" not in info.filename and not name.startswith(".")
            and name.lower().endswith(TABLE_SUFFIXES) and not _NOT_TABLES.search(name))


def _zip_tables(archive: Path, workdir: Path) -> list[TableFile]:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{archive}: not a readable zip archive ({exc})") from None
    with zf:
        members = zf.infolist()
        found: list[tuple[TableFile, str]] = []
        for n, info in enumerate(members):
            if not _candidate(info):
                continue
            # Our own directory and a sanitised base name: the member's path is never used as a path.
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", _member_name(info)).lstrip(".") or "member"
            target = workdir / f"{n:05d}" / safe
            target.parent.mkdir()
            try:
                with zf.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as exc:
                raise InputError(f"{archive}: cannot read member {info.filename!r} ({exc})") from None
            try:
                kind = table_layout(target).kind
            except InputError:
                continue  # e.g. a notes .txt: not a table
            found.append((TableFile(f"{archive.name}:{info.filename}", target), kind))
        listed = ", ".join(i.filename for i in members[:30]) + (" …" if len(members) > 30 else "")
        if not found:
            raise InputError(f"{archive}: no CMS NCCI PTP or MUE table in the zip archive "
                             f"(members: {listed or 'none'}); expected the CMS .txt/.csv or .xlsx table files")
    # CMS ships each table twice (text and xlsx, same name): take one copy, the text (faster to read).
    by_stem: dict[str, tuple[TableFile, str]] = {}
    for tf, kind in found:
        stem = PurePosixPath(tf.name).stem.lower()
        kept = by_stem.get(stem)
        if kept is None or (tf.path.suffix.lower() in TEXT_SUFFIXES and kept[0].path.suffix.lower() not in TEXT_SUFFIXES):
            by_stem[stem] = (tf, kind)
    tables = list(by_stem.values())
    # An MUE archive holding several MUE tables (practitioner, hospital, DME): the claims are practitioner claims.
    mues = [tf for tf, kind in tables if kind == MUE]
    if len(mues) > 1:
        practitioner = [tf for tf in mues if "practitioner" in tf.path.name.lower()]
        if len(practitioner) != 1:
            raise InputError(f"{archive}: several MUE tables in the archive ({', '.join(tf.name for tf in mues)}); "
                             "extract the practitioner table and import that file")
        tables = [(tf, kind) for tf, kind in tables if kind != MUE or tf is practitioner[0]]
    return [tf for tf, _kind in tables]


@contextmanager
def table_files(paths: Sequence[Path]) -> Iterator[list[TableFile]]:
    """The table files behind ``paths``: plain files as they are, a ``.zip`` as its table members.

    Members are written to a private temporary directory (mode 0700), removed on exit.
    """
    with tempfile.TemporaryDirectory(prefix="bots-edits-") as tmp:
        out: list[TableFile] = []
        for i, p in enumerate(Path(p) for p in paths):
            if p.suffix.lower() == ".zip":
                if not p.is_file():
                    raise InputError(f"{p}: file not found")
                workdir = Path(tmp) / f"zip{i}"
                workdir.mkdir()
                out.extend(_zip_tables(p, workdir))
            else:
                out.append(TableFile(p.name, p))
        yield out
