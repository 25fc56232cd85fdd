"""Import CMS NCCI PTP and MUE tables (tab-delimited or CSV text as CMS publishes them, or xlsx).

The file kind is detected from its header row (``Column 1 / Column 2`` for PTP,
``HCPCS/CPT Code ... MUE`` for MUE) or, without a header, from the shape of the
first data row. CMS splits the practitioner PTP table into several files
(``ccipra-…-f1.txt`` to ``-f4.txt``): import them together and they form one
table version. The zip archives CMS distributes can be given as they are: their
table members are imported (see :func:`bots.claim_edits.cms_files.table_files`).

A table with malformed lines is rejected whole, listing the first problems
(file, line, column, value); nothing changes. An edit table missing some of its
rows would let bundled codes through unnoticed, so a half table is never made
active. Fix the file (or re-download it) and import again.

Replacing is atomic for scans: rows load under a new version id, one short
transaction flips the active version, and the old rows are deleted afterwards. That
transaction also records the change (pairs or codes added, deleted, changed) and sends
the unsubmitted claims it can affect back for a rescan (``bots.claim_edits.changes``).
A dry run stages the version the same way, previews its effect, and deletes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, delete, select, update

from bots.claim_edits.changes import BOT, affected_refs, table_diff
from bots.claim_edits.cms_files import data_rows, detect_kind, is_code, table_files, table_layout
from bots.claim_edits.tables import (
    KINDS, MUE, PTP, edit_table_versions, ensure_tables, ncci_mue, ncci_ptp, tables_lock,
)
from bots.core.errors import InputError
from bots.core.logging import get_logger
from bots.core.store import Store, utcnow

__all__ = [
    "ImportProblem", "ImportResult", "StagedTable", "TableRejected", "activate", "active_versions", "detect_kind",
    "import_tables", "staged_table",
    "load_samples_if_missing", "SAMPLE_FILES",
]

log = get_logger("bots.claim_edits.import")

MAX_LISTED_PROBLEMS = 20
CHUNK_ROWS = 50_000
SAMPLE_FILES = {PTP: "ncci_ptp_sample.txt", MUE: "mue_sample.txt"}

PTP_COLUMNS = ("Column 1", "Column 2", "*=in existence prior to 1996", "Effective Date", "Deletion Date",
               "Modifier Indicator", "PTP Edit Rationale")
MUE_COLUMNS = ("HCPCS/CPT Code", "MUE Value", "MUE Adjudication Indicator", "MUE Rationale")


@dataclass(frozen=True)
class ImportProblem:
    file: str
    line: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}, column '{self.column}': {self.message} (value: {self.value!r})"


class TableRejected(InputError):
    """The file has malformed lines; the active table is unchanged."""

    def __init__(self, kind: str, problems: list[ImportProblem], total: int):
        self.kind = kind
        self.problems = problems
        self.total = total
        shown = "\n  ".join(str(p) for p in problems)
        more = f"\n  … and {total - len(problems)} more" if total > len(problems) else ""
        super().__init__(
            f"{KINDS.get(kind, kind)} table rejected: {total} malformed line(s); the active table is unchanged. "
            f"Fix or re-download the file and import it again.\n  {shown}{more}")


@dataclass
class ImportResult:
    kind: str
    label: str
    rows: int
    version_id: int
    files: list[str]
    seconds: float
    replaced: str | None = None
    change_id: int | None = None  # the change record, when it replaced an active table

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "rows": self.rows, "version_id": self.version_id,
                "files": self.files, "seconds": round(self.seconds, 2), "replaced": self.replaced,
                "change": self.change_id}


# ---- parsing ---------------------------------------------------------------------------------------

class _Parser:
    """Turns rows into insert tuples, collecting problems instead of raising."""

    def __init__(self, version_id: int):
        self.version_id = version_id
        self.problems: list[ImportProblem] = []
        self.total_problems = 0
        self._dates: dict[str, str | None] = {}
        self._mue_seen: dict[str, int] = {}
        self.row_no = 0  # position across every file of the import

    def problem(self, file: str, line: int, column: str, value: str, message: str) -> None:
        self.total_problems += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(ImportProblem(file, line, column, value, message))

    def _date(self, value: str) -> str | None:
        """YYYYMMDD → ISO, validated once per distinct value (a table has few distinct dates)."""
        try:
            return self._dates[value]
        except KeyError:
            iso = None
            if len(value) == 8 and value.isdigit():
                try:
                    iso = date(int(value[:4]), int(value[4:6]), int(value[6:])).isoformat()
                except ValueError:
                    iso = None
            self._dates[value] = iso
            return iso

    def ptp(self, file: str, rows: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[Any, ...]]:
        vid = self.version_id
        for line, row in rows:
            if len(row) < 6:
                self.problem(file, line, "(line)", "\t".join(row)[:80],
                             f"expected 7 tab-separated columns ({', '.join(PTP_COLUMNS)}), found {len(row)}")
                continue
            c1, c2 = row[0].strip().upper(), row[1].strip().upper()
            flag, eff, dele, mi = row[2].strip(), row[3].strip(), row[4].strip(), row[5].strip()
            ok = True
            if not is_code(c1):
                self.problem(file, line, PTP_COLUMNS[0], row[0], "expected a 5-character CPT/HCPCS code")
                ok = False
            if not is_code(c2):
                self.problem(file, line, PTP_COLUMNS[1], row[1], "expected a 5-character CPT/HCPCS code")
                ok = False
            if flag not in ("", "*"):
                self.problem(file, line, PTP_COLUMNS[2], flag, "expected '*' or empty")
                ok = False
            if not eff and flag == "*":
                eff_iso: str | None = "1996-01-01"  # pre-1996 edits: in force since NCCI began
            else:
                eff_iso = self._date(eff)
                if eff_iso is None:
                    self.problem(file, line, PTP_COLUMNS[3], eff, "expected a date as YYYYMMDD")
                    ok = False
            del_iso = None
            if dele not in ("*", ""):
                del_iso = self._date(dele)
                if del_iso is None:
                    self.problem(file, line, PTP_COLUMNS[4], dele, "expected a date as YYYYMMDD, or * for none")
                    ok = False
                elif eff_iso is not None and del_iso < eff_iso:
                    self.problem(file, line, PTP_COLUMNS[4], dele, "deletion date is before the effective date")
                    ok = False
            if mi not in ("0", "1", "9"):
                self.problem(file, line, PTP_COLUMNS[5], mi, "expected modifier indicator 0, 1 or 9")
                ok = False
            if ok:
                self.row_no += 1
                yield (vid, c1, c2, self.row_no, eff_iso, del_iso, mi, flag == "*",
                       row[6].strip() if len(row) > 6 else "")

    def mue(self, file: str, rows: Iterator[tuple[int, list[str]]], cols: dict[str, int]) -> Iterator[tuple[Any, ...]]:
        vid = self.version_id
        ci, vi, mi_, ri = cols["code"], cols["value"], cols["mai"], cols["rationale"]
        width = max(ci, vi, mi_) + 1
        for line, row in rows:
            if len(row) < width:
                self.problem(file, line, "(line)", ",".join(row)[:80],
                             f"expected {len(MUE_COLUMNS)} columns ({', '.join(MUE_COLUMNS)}), found {len(row)}")
                continue
            code, value, mai_text = row[ci].strip().upper(), row[vi].strip(), row[mi_].strip()
            ok = True
            if not is_code(code):
                self.problem(file, line, MUE_COLUMNS[0], row[ci], "expected a 5-character CPT/HCPCS code")
                ok = False
            elif code in self._mue_seen:
                self.problem(file, line, MUE_COLUMNS[0], code, f"code repeated (first on line {self._mue_seen[code]})")
                ok = False
            if not value.isdigit():
                self.problem(file, line, MUE_COLUMNS[1], value, "expected a whole number of units (0 or more)")
                ok = False
            # CMS writes the indicator with its meaning: "3 Date of Service Edit: Clinical".
            if mai_text[:1] not in ("1", "2", "3") or (len(mai_text) > 1 and mai_text[1].isdigit()):
                self.problem(file, line, MUE_COLUMNS[2], mai_text, "expected MUE adjudication indicator 1, 2 or 3")
                ok = False
            if ok:
                self._mue_seen[code] = line
                yield (vid, code, int(value), int(mai_text[0]), row[ri].strip() if len(row) > ri else "")


# ---- loading ---------------------------------------------------------------------------------------

_PTP_COLS = ("version_id", "column1", "column2", "row_no", "effective", "deletion", "modifier_indicator",
             "prior_1996", "rationale")
_MUE_COLS = ("version_id", "code", "mue_value", "mai", "rationale")


def _bulk_insert(store: Store, conn: Connection, table: Table, cols: Sequence[str],
                 rows: list[tuple[Any, ...]]) -> None:
    """executemany of plain tuples: on SQLite straight to the driver (no per-row ORM or dict work)."""
    if not rows:
        return
    if store.is_sqlite:
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        conn.exec_driver_sql(sql, rows)
    else:
        conn.execute(table.insert(), [dict(zip(cols, r, strict=True)) for r in rows])


def _sha256(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _label(paths: Sequence[Path], sha: str, rows: int) -> str:
    name = paths[0].name + (f" (+{len(paths) - 1} more)" if len(paths) > 1 else "")
    return f"{name} sha256:{sha[:12]} rows:{rows}"


def active_versions(store: Store) -> dict[str, tuple[int, str]]:
    """kind → (version id, label) of the active table versions."""
    ensure_tables(store)
    with store.read() as conn:
        return {r.kind: (r.version_id, r.label) for r in conn.execute(
            select(edit_table_versions.c.kind, edit_table_versions.c.version_id, edit_table_versions.c.label)
            .where(edit_table_versions.c.active.is_(True)))}


@dataclass
class StagedTable:
    """A table loaded as an inactive version: what ``activate`` switches to, or a dry run discards."""

    kind: str
    version_id: int
    label: str
    rows: int
    given: list[Path]
    started: float
    activated: bool = False


@contextlib.contextmanager
def staged_table(store: Store, paths: Sequence[Path], *, kind: str | None = None) -> Iterator[StagedTable]:
    """Load one CMS table (one or more files of the same kind, or the zip archives holding them) as an
    inactive version; unless it was activated inside the block, its rows are deleted on the way out."""
    if not paths:
        raise InputError("no file given")
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown table kind {kind!r}; use ptp or mue")
    given = [Path(p) for p in paths]
    # One load at a time per database, from staging to the switch: an activation drops every other
    # version of its kind, and must not drop one another robot or operator is loading.
    with tables_lock(store):
        with table_files(given) as files:
            staged = _load_files(store, given, [f.path for f in files], [f.name for f in files], kind=kind)
        try:
            yield staged
        finally:
            if not staged.activated:
                _drop_versions(store, staged.kind, [staged.version_id])


def import_tables(store: Store, paths: Sequence[Path], *, kind: str | None = None) -> ImportResult:
    """Load one CMS table and make it the active version (with a change record when it replaces one)."""
    with staged_table(store, paths, kind=kind) as staged:
        return activate(store, staged)


def _load_files(store: Store, given: list[Path], paths: list[Path], names: list[str], *,
                kind: str | None) -> StagedTable:
    """``paths``: the table files (zip members already extracted); ``names``: what the records call them."""
    started = time.monotonic()
    layouts = [table_layout(p) for p in paths]
    for p, lay in zip(paths, layouts, strict=True):
        expected = kind or layouts[0].kind
        if lay.kind != expected:
            raise InputError(f"{p}: looks like a {KINDS[lay.kind]} table, expected {KINDS[expected]} "
                             f"(import PTP and MUE files separately)")
    kind = kind or layouts[0].kind
    ensure_tables(store)
    sha = _sha256(paths)
    now = utcnow().isoformat(timespec="seconds")
    files = ";".join(names)

    rows = 0
    with store.begin() as conn:
        version_id = conn.execute(edit_table_versions.insert().values(
            kind=kind, label="(loading)", files=files, sha256=sha, rows=0, active=False, loaded_at=now,
        )).inserted_primary_key[0]  # type: ignore[index]
        parser = _Parser(version_id)
        table, cols = (ncci_ptp, _PTP_COLS) if kind == PTP else (ncci_mue, _MUE_COLS)
        for p, lay in zip(paths, layouts, strict=True):
            data = data_rows(p, lay)
            tuples = parser.ptp(p.name, data) if kind == PTP else parser.mue(p.name, data, lay.columns)
            chunk: list[tuple[Any, ...]] = []
            for t in tuples:
                chunk.append(t)
                if len(chunk) >= CHUNK_ROWS:
                    if not parser.total_problems:  # once a problem is found, only keep counting
                        _bulk_insert(store, conn, table, cols, chunk)
                    rows += len(chunk)
                    chunk = []
            if not parser.total_problems:
                _bulk_insert(store, conn, table, cols, chunk)
            rows += len(chunk)
        if parser.total_problems:
            raise TableRejected(kind, parser.problems, parser.total_problems)  # rolls the load back
        if rows == 0:
            raise InputError(f"{paths[0]}: the {KINDS[kind]} table has no data rows; the active table is unchanged")
        label = _label(paths, sha, rows)
        conn.execute(update(edit_table_versions).where(edit_table_versions.c.version_id == version_id)
                     .values(label=label, rows=rows))
    return StagedTable(kind, version_id, label, rows, given, started)


def activate(store: Store, staged: StagedTable) -> ImportResult:
    """The flip: scans starting after this commit use the new table. In the same transaction the
    difference from the table it replaces is recorded as a change, and the unsubmitted claims it can
    affect are sent back for a rescan (``changes.affected_refs``)."""
    kind, version_id, label = staged.kind, staged.version_id, staged.label
    change_id = None
    with store.begin() as conn:
        old = conn.execute(select(edit_table_versions.c.version_id, edit_table_versions.c.label).where(
            edit_table_versions.c.kind == kind, edit_table_versions.c.active.is_(True))).first()
        conn.execute(update(edit_table_versions).where(edit_table_versions.c.kind == kind)
                     .values(active=edit_table_versions.c.version_id == version_id))
        if old is not None:
            diff = table_diff(conn, kind, old.version_id, version_id)
            change_id = store.record_change(
                conn, kind=f"{kind}_table", subject=kind, old=old.label, new=label, summary=diff.summary(),
                bot=BOT, refs=affected_refs(store, conn, diff))
    staged.activated = True
    # Then drop every other version of this kind (the one just replaced, and any left by a crashed import).
    with store.read() as conn:
        stale = [v for (v,) in conn.execute(select(edit_table_versions.c.version_id).where(
            edit_table_versions.c.kind == kind, edit_table_versions.c.version_id != version_id))]
    _drop_versions(store, kind, stale)
    result = ImportResult(kind, label, staged.rows, version_id, [str(p) for p in staged.given],
                          time.monotonic() - staged.started, old.label if old is not None else None, change_id)
    log.info("edit_table_imported", kind=kind, label=label, rows=staged.rows, seconds=round(result.seconds, 2),
             replaced=result.replaced, change=change_id)
    return result


def _drop_versions(store: Store, kind: str, version_ids: list[int]) -> None:
    if not version_ids:
        return
    table = ncci_ptp if kind == PTP else ncci_mue
    with store.begin() as conn:
        conn.execute(delete(table).where(table.c.version_id.in_(version_ids)))
        conn.execute(delete(edit_table_versions).where(edit_table_versions.c.version_id.in_(version_ids)))


def load_samples_if_missing(store: Store, reference_dir: Path) -> list[ImportResult]:
    """On first use, load the shipped sample tables for any kind never imported (once, whichever of
    several robots starting together gets there first: the others find them loaded)."""
    if set(active_versions(store)) >= set(SAMPLE_FILES):
        return []
    with tables_lock(store):
        return _load_samples(store, reference_dir)


def _load_samples(store: Store, reference_dir: Path) -> list[ImportResult]:
    active = active_versions(store)
    loaded = []
    for kind, name in SAMPLE_FILES.items():
        if kind not in active:
            path = reference_dir / name
            if not path.is_file():
                raise InputError(f"{path}: no {KINDS[kind]} table imported and the sample file is missing; "
                                 f"run `bots edits import FILE`")
            loaded.append(import_tables(store, [path], kind=kind))
    return loaded
