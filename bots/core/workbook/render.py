"""Render the exception workbook from store rows into an xlsx file.

openpyxl's write-only mode builds everything around the rows: styles, sheet
protection, data-validation dropdowns, frozen header, autofilter, column
widths and the Summary sheet (drawn by ``summary``). The data rows themselves
are serialised here and spliced into each sheet's ``sheetData`` as the package
is copied out, because
openpyxl spends about 17 µs per cell on them (27 s for 60,000 rows without
lxml) and this takes about 1 µs. The cells are plain SpreadsheetML: inline
strings, numbers with a date or money format, and formulas.

Choices that follow from that, and from how coders use the file:
- Evidence File is a ``HYPERLINK()`` formula with a path relative to the
  workbook's folder, not a hyperlink part: it needs no relationship per row
  (Excel caps those at 65,530 a sheet), it moves with its row when coders sort,
  and the file name is cached as the cell's value for readers that do not
  calculate.
- Coder columns carry an unlocked column style, so their empty cells (and
  cells of rows a coder inserts) are editable on the protected sheet without
  writing a cell for each; only cells with a value are written.
- Bot-owned cells get the row's Review Level colour (grey once Cleared or
  Synced); a row's cells are always written so the colour band is unbroken.

The same cells, all locked and without dropdowns, make the monthly archive files
(``render_archive``, called by ``archive``).

Size: one module on purpose (about 470 lines). The cell emitters, the column plans and the
splice of the rows into openpyxl's skeleton share one style table and one column order; the
sheets with their own columns (Quality Review, Appeal Preparation, Trends, Lists) and the
dropdowns (``validations``) already live in their own modules.
"""

from __future__ import annotations

import io
import math
import os
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.worksheet.protection import SheetProtection

from bots.core.lifecycle import APPEAL_PREPARATION, RowState
from bots.core.times import show_time
from bots.core.workbook.layout import (
    COLUMNS, FROZEN_COLUMNS, STATUSES, Column, WorkbookLayout, appeal_columns, column_letter,
    print_setup,
)
from bots.core.workbook.lists import names_range, names_sheet
from bots.core.workbook.quality_sheet import quality_sheet
from bots.core.workbook.summary import SummaryStats, summary_sheet
from bots.core.workbook.trends import trends_sheet
from bots.core.workbook.validations import EXCEL_EPOCH_ORDINAL, add_validations

if TYPE_CHECKING:
    from bots.core.report import Report

__all__ = ["SheetRows", "render_archive", "render_workbook"]

MAX_TEXT = 32_767  # Excel's limit for one cell
HEADER_FILL = {"bot": "1F4E78", "coder": "375623"}
ROWS_PER_CHUNK = 2000  # rows joined and encoded at a time

_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class SheetRows:
    """One queue sheet: its title and its store rows in display order."""

    title: str
    queue: str
    rows: list[dict[str, Any]]


class _Palette:
    """Cell styles registered with the workbook once; cells then refer to them by index."""

    def __init__(self, ws: Any):
        self.ws = ws  # any sheet of the workbook: the cells made here are never appended

    def style(self, **attrs: Any) -> int:
        cell = WriteOnlyCell(self.ws)
        for name, value in attrs.items():
            setattr(cell, name, value)
        return cell.style_id


_NUMBER_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm", "money": "#,##0.00", "int": "0"}


@dataclass(frozen=True)
class _ColumnPlan:
    column: Column
    letter: str
    styles: tuple[int, int, int]  # entry, senior, closed (one style for coder columns)
    width: float = 0.0  # this sheet's width of the column (fitted to its values)


def _plan_columns(palette: _Palette, layout: WorkbookLayout, columns: Sequence[Column] = COLUMNS,
                  read_only: bool = False) -> list[_ColumnPlan]:
    """Each column's cell styles: by Review Level and closed for bot-owned cells, one
    unlocked style for coder-owned cells (locked too in a ``read_only`` archive file)."""
    colours = layout.colours
    plans = []
    for i, col in enumerate(columns, 1):
        fmt = _NUMBER_FORMATS.get(col.kind, "General")
        align = Alignment(vertical="top", wrap_text=col.wrap)
        if col.coder:
            sid = palette.style(protection=Protection(locked=read_only), number_format=fmt, alignment=align)
            plans.append(_ColumnPlan(col, column_letter(i), (sid, sid, sid)))
            continue
        font = Font(color="0563C1", underline="single") if col.kind == "link" else (
            Font(color="C00000", bold=True) if col.field == "bot_check" else Font())
        styles = []
        for colour, closed in ((colours.entry, False), (colours.senior, False), (colours.closed, True)):
            styles.append(palette.style(
                fill=PatternFill("solid", fgColor=colour), number_format=fmt,
                font=Font(color="808080", underline=font.underline, bold=font.bold) if closed else font,
                alignment=align))
        plans.append(_ColumnPlan(col, column_letter(i), (styles[0], styles[1], styles[2])))
    return plans


def _esc(text: str) -> str:
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    if _SPECIAL.search(text):
        text = _ILLEGAL.sub("", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _inline_body(text: str) -> str:
    if text[:1].isspace() or text[-1:].isspace():
        return f'<is><t xml:space="preserve">{_esc(text)}</t></is>'
    return f"<is><t>{_esc(text)}</t></is>"


Emitter = Callable[[str, int, Any], str]
CACHE_LIMIT = 100_000


class _TextEmitter:
    """Text as an inline string. Bodies are cached, since most columns repeat a few
    values; :func:`_rows_xml` looks in ``cache`` itself before calling."""

    def __init__(self, default: str | None = None):
        self.default = default or ""
        self.cache: dict[Any, str] = {}

    def __call__(self, ref: str, style: int, value: Any) -> str:
        text = str(value) if value not in (None, "") else self.default
        body = self.cache.get(text)
        if body is None:
            body = _inline_body(text)
            if len(self.cache) < CACHE_LIMIT:
                self.cache[text] = body
        return f'<c r="{ref}" s="{style}" t="inlineStr">{body}</c>'


def _number_emitter() -> Emitter:
    """A finite number as a number; anything else as text, never ``<v>inf</v>``, ``<v>nan</v>`` or
    ``<v>'12'</v>`` (Excel and openpyxl refuse such a file, LibreOffice shows 0): whatever reached
    the store, the workbook stays readable and shows the value as it is."""
    as_text = _TextEmitter()

    def emit(ref: str, style: int, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) < 10**308:
                return f'<c r="{ref}" s="{style}"><v>{value}</v></c>'
        elif isinstance(value, float) and math.isfinite(value):
            return f'<c r="{ref}" s="{style}"><v>{value!r}</v></c>'
        elif isinstance(value, Decimal) and value.is_finite() and abs(value) < Decimal("1e308"):
            return f'<c r="{ref}" s="{style}"><v>{value}</v></c>'
        return as_text(ref, style, value)

    return emit


def _date_emitter() -> Emitter:
    """An ISO date as a date serial; anything else (text a coder typed) as text."""
    cache: dict[str, str] = {}
    as_text = _TextEmitter()

    def emit(ref: str, style: int, value: Any) -> str:
        serial = cache.get(value)
        if serial is None:
            try:
                serial = str(date.fromisoformat(value[:10]).toordinal() - EXCEL_EPOCH_ORDINAL) \
                    if len(value) >= 10 and value[10:11] in ("", "T", " ") else ""
            except ValueError:
                serial = ""
            if len(cache) < CACHE_LIMIT:
                cache[value] = serial
        if not serial:
            return as_text(ref, style, value)
        return f'<c r="{ref}" s="{style}"><v>{serial}</v></c>'

    return emit


def _datetime_emitter(tz: tzinfo) -> Emitter:
    """An ISO UTC timestamp as a date-time serial in the configured time zone.

    The zone's offset is looked up once per minute of time (every zone changes
    offset on a whole minute) instead of converting each value.
    """
    offsets: dict[str, float] = {}
    as_text = _TextEmitter()

    def emit(ref: str, style: int, value: Any) -> str:
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return as_text(ref, style, value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        minute = value[:16]
        offset = offsets.get(minute)
        if offset is None:
            delta = moment.replace(tzinfo=UTC).astimezone(tz).utcoffset()
            offset = offsets[minute] = delta.total_seconds() if delta else 0.0
        seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + offset
        serial = moment.toordinal() - EXCEL_EPOCH_ORDINAL + seconds / 86400
        return f'<c r="{ref}" s="{style}"><v>{round(serial, 6)!r}</v></c>'

    return emit


def _link_emitter(base_dir: Path) -> Emitter:
    """A file path as ``HYPERLINK()``, relative to the workbook's folder when possible."""
    base = os.path.abspath(base_dir)
    folders: dict[str, str] = {}

    def emit(ref: str, style: int, value: Any) -> str:
        folder, name = os.path.split(str(value))
        shown = folders.get(folder)
        if shown is None:
            try:
                shown = os.path.relpath(os.path.abspath(folder), base)
            except ValueError:  # another drive (Windows): keep the absolute path
                shown = os.path.abspath(folder)
            folders[folder] = shown
        target = os.path.join(shown, name)
        formula = 'HYPERLINK("{}","{}")'.format(target.replace('"', '""'), name.replace('"', '""'))
        return f'<c r="{ref}" s="{style}" t="str"><f>{_esc(formula)}</f><v>{_esc(name)}</v></c>'

    return emit


def _emitter(col: Column, tz: tzinfo, base_dir: Path) -> Emitter:
    if col.kind in ("int", "money"):
        return _number_emitter()
    if col.kind == "date":
        return _date_emitter()
    if col.kind == "datetime":
        return _datetime_emitter(tz)
    if col.kind == "link":
        return _link_emitter(base_dir)
    return _TextEmitter(STATUSES[0] if col.field == "status" else None)


# What a blank value becomes: nothing (coder columns: their column style applies),
# a styled empty cell (bot columns: keeps the row's colour), or the emitter's default.
_SKIP, _STYLED, _DEFAULT = 0, 1, 2


def _rows_xml(rows: Sequence[dict[str, Any]], plans: Sequence[_ColumnPlan], tz: tzinfo,
              base_dir: Path) -> Iterator[bytes]:
    """``<row>`` elements for the data rows (row 2 onward), in chunks of encoded XML."""
    cols = []
    for p in plans:
        emit = _emitter(p.column, tz, base_dir)
        cols.append((p.column.field, p.letter, p.styles, emit, emit.cache if isinstance(emit, _TextEmitter) else None,
                     _DEFAULT if p.column.field == "status" else (_SKIP if p.column.coder else _STYLED)))
    wrapped = [(p.column.field, p.width) for p in plans if p.column.wrap]
    parts: list[str] = []
    append = parts.append
    for r, row in enumerate(rows, 2):
        rs = str(r)
        variant = 2 if row["bot_status"] in RowState.CLOSED else (1 if row["review_level"] == "Senior" else 0)
        lines = max((_lines(row[name], width) for name, width in wrapped), default=1)
        append(f'<row r="{rs}" ht="{_row_height(lines)}" customHeight="1">' if lines > 1 else f'<row r="{rs}">')
        for name, letter, styles, emit, cache, blank in cols:
            value = row[name]
            if (value is None or value == "") and blank != _DEFAULT:
                if blank == _STYLED:
                    append(f'<c r="{letter}{rs}" s="{styles[variant]}"/>')
                continue
            body = cache.get(value) if cache is not None else None
            if body is not None:  # the common case, without a call
                append(f'<c r="{letter}{rs}" s="{styles[variant]}" t="inlineStr">{body}</c>')
            else:
                append(emit(letter + rs, styles[variant], value))
        append("</row>")
        if r % ROWS_PER_CHUNK == 0:
            yield "".join(parts).encode("utf-8")
            parts.clear()
    if parts:
        yield "".join(parts).encode("utf-8")


LINE_HEIGHT = 15.0  # points per line of 11-point text
MAX_LINES = 8  # a row grows to show this many wrapped lines; longer text shows in full when selected
CHARS_PER_WIDTH = 1.1  # characters of ordinary text per unit of column width (a width counts '0's)


def _lines(value: Any, width: float) -> int:
    """Lines ``value`` takes wrapped in a column ``width`` wide (an estimate: no font metrics here)."""
    if not value:
        return 1
    per_line = max(1, int(width * CHARS_PER_WIDTH))
    return sum(max(1, math.ceil(len(part) / per_line)) for part in str(value).split("\n"))


def _row_height(lines: int) -> str:
    return f"{min(lines, MAX_LINES) * LINE_HEIGHT:g}"


FIT_SAMPLE = 5000  # rows looked at to fit a column's width to its values


def _fit_width(column: Column, rows: Sequence[dict[str, Any]]) -> float:
    """The column's width: its least width, grown to its longest value (up to ``max_width``)."""
    if column.max_width is None:
        return column.width
    longest = max((len(str(row[column.field])) for row in rows[:FIT_SAMPLE] if row[column.field] not in (None, "")),
                  default=0)
    if column.kind == "link":
        longest = max((len(os.path.basename(str(row[column.field]))) for row in rows[:FIT_SAMPLE]
                       if row[column.field]), default=0)
    return float(min(column.max_width, max(column.width, len(column.header) + 2, longest + 2)))


def _protect(ws: Any, read_only: bool = False) -> None:
    """Bot-owned cells locked, no password. Coders may filter, format, resize and insert
    rows; Excel still refuses to sort a range with locked cells on a protected sheet,
    so sorting needs Review > Unprotect Sheet. That is safe: rows are matched by
    Exception ID, and the next write restores protection and every bot-owned cell.
    An archive file (``read_only``) locks every cell and allows no inserted rows: nothing in it is read back."""
    ws.protection = SheetProtection(
        sheet=True, sort=False, autoFilter=False, formatCells=read_only, formatColumns=False, formatRows=False,
        insertRows=read_only, deleteRows=True, insertColumns=True, deleteColumns=True,
        selectLockedCells=False, selectUnlockedCells=False)


def _queue_sheet(wb: Workbook, sheet: SheetRows, layout: WorkbookLayout, plans: Sequence[_ColumnPlan],
                 written: str, names: str | None = None, read_only: bool = False) -> tuple[Any, list[_ColumnPlan]]:
    """The sheet around the rows, and the column plans with this sheet's widths (rows need them
    for their heights)."""
    ws = wb.create_sheet(sheet.title)
    fitted = []
    for plan in plans:
        plan = replace(plan, width=_fit_width(plan.column, sheet.rows))
        fitted.append(plan)
        dim = ws.column_dimensions[plan.letter]
        dim.width = plan.width
        if plan.column.coder and not read_only:  # empty cells, and rows a coder inserts, take the column's style
            dim.protection = Protection(locked=False)
            dim.number_format = _NUMBER_FORMATS.get(plan.column.kind, "General")
        if plan.column.bookkeeping:  # grouped at the right, collapsed: the [+] above shows them
            dim.outlineLevel = 1
            dim.hidden = True
    ws.sheet_properties.outlinePr.summaryRight = False
    ws.freeze_panes = f"{column_letter(FROZEN_COLUMNS + 1)}2"
    ws.auto_filter.ref = f"A1:{plans[-1].letter}{len(sheet.rows) + 1}"
    print_setup(ws, written)
    if not read_only:
        add_validations(ws, sheet.queue, layout, {p.column.field: p.letter for p in plans},
                        {p.column.field: p.column.header for p in plans}, names)
    _protect(ws, read_only)
    header = []
    for plan in plans:
        cell = WriteOnlyCell(ws, value=plan.column.header)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL["coder" if plan.column.coder else "bot"])
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        if plan.column.note:
            cell.comment = Comment(_header_note(plan.column, layout, sheet.queue), "rcm-bots", width=260, height=110)
        header.append(cell)
    ws.append(header)
    return ws, fitted


def _header_note(column: Column, layout: WorkbookLayout, queue: str) -> str:
    if column.field == "resolution":
        return f"{column.note} This sheet's choices: {', '.join(layout.choices(queue))}."
    return column.note


def render_workbook(dest: IO[bytes], sheets: Sequence[SheetRows], stats: SummaryStats, layout: WorkbookLayout,
                    *, tz: tzinfo, base_dir: Path, people: Sequence[str] = (),
                    quality: Sequence[dict[str, Any]] | None = None, reviewers: Sequence[str] = (),
                    categories: Sequence[str] = (), trends: Report | str | None = None,
                    appeal_items: Sequence[str] = ()) -> int:
    """Write the whole workbook to ``dest`` (an open binary file); return the data rows written.
    ``people``: the team roster's names, for the person columns' dropdowns (none: free text);
    ``quality``: the Quality Review sheet's samples (None: no such sheet), with the ``reviewers``
    and finding ``categories`` its dropdowns offer; ``trends``: the Trends sheet's figures, drawn
    after the queues (``trends``); None: no Trends sheet; ``appeal_items``: the Appeal Preparation
    sheet's checklist columns (``layout.appeal_columns``)."""
    wb = Workbook(write_only=True)
    summary = summary_sheet(wb, stats, tz)
    written = show_time(stats.written_at.replace(tzinfo=UTC), tz, seconds=False)
    names = names_range(people)
    queue_sheets = _queue_sheets(wb, summary, sheets, layout, written, appeal_items, names)
    if quality is not None:
        quality_sheet(wb, quality, written, base_dir, reviewers=names_range(reviewers, "B"),
                      categories=names_range(categories, "C"))
    if trends is not None:
        trends_sheet(wb, trends, written)
    if people or quality is not None:
        names_sheet(wb, {"Team": list(people), "QA reviewers": list(reviewers), "Finding categories": list(categories)})
    return _splice(wb, queue_sheets, dest, tz, base_dir)


def render_archive(dest: IO[bytes], sheets: Sequence[SheetRows], cover: Callable[[Workbook], Any],
                   layout: WorkbookLayout, *, tz: tzinfo, base_dir: Path, written_at: datetime,
                   appeal_items: Sequence[str] = ()) -> int:
    """A read-only archive file (``archive``): ``cover`` draws its first sheet, then the queue sheets with
    the live workbook's columns and styles, every cell locked and no dropdowns."""
    wb = Workbook(write_only=True)
    first = cover(wb)
    written = show_time(written_at.replace(tzinfo=UTC), tz, seconds=False)
    queue_sheets = _queue_sheets(wb, first, sheets, layout, written, appeal_items, None, read_only=True)
    return _splice(wb, queue_sheets, dest, tz, base_dir)


def _queue_sheets(wb: Workbook, first: Any, sheets: Sequence[SheetRows], layout: WorkbookLayout, written: str,
                  appeal_items: Sequence[str], names: str | None,
                  read_only: bool = False) -> list[tuple[SheetRows, Any, list[_ColumnPlan]]]:
    plans = _plan_columns(_Palette(first), layout, read_only=read_only)
    appeal_plans = _plan_columns(_Palette(first), layout, appeal_columns(list(appeal_items)), read_only)
    return [(sheet, *_queue_sheet(wb, sheet, layout, appeal_plans if sheet.queue == APPEAL_PREPARATION else plans,
                                  written, names, read_only)) for sheet in sheets]


def _splice(wb: Workbook, queue_sheets: list[tuple[SheetRows, Any, list[_ColumnPlan]]], dest: IO[bytes],
            tz: tzinfo, base_dir: Path) -> int:
    """Save ``wb``'s skeleton and copy it to ``dest`` with each queue sheet's rows in its ``sheetData``."""
    skeleton = io.BytesIO()
    wb.save(skeleton)
    parts = {ws.path.lstrip("/"): (sheet, fitted) for sheet, ws, fitted in queue_sheets}
    written = 0
    with zipfile.ZipFile(skeleton) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=3) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            part = parts.get(info.filename)
            if part is None:
                out.writestr(info.filename, data)
                continue
            sheet, fitted = part
            head, sep, tail = data.partition(b"</sheetData>")
            if not sep:
                raise RuntimeError(f"unexpected sheet XML from openpyxl in {info.filename}")
            with out.open(info.filename, "w") as fh:
                fh.write(head)
                for chunk in _rows_xml(sheet.rows, fitted, tz, base_dir):
                    fh.write(chunk)
                fh.write(sep + tail)
            written += len(sheet.rows)
    return written
