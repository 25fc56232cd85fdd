"""A worklist's rows grouped by claim in bounded memory.

A worklist row is one service line, and a claim's lines need not be next to each other (an
export sorted by date of service scatters them). Holding every row until the end of the file to
group them cost gigabytes for a 50 MB file, so rows are spilled to a private temporary SQLite
file as they are read and read back sorted by claim: SQLite's sorter works within a fixed cache
and spills to disk itself. The loader then sees each claim whole, however its lines were
scattered, while the process holds one batch of rows at a time.

The spill holds PHI (a worklist does): it lives in a fresh owner-only folder (``mkdtemp``, mode
0700) and is deleted when the loader is done with it, whatever happened. SQLite's sorter may add
temporary files of its own in the system temporary folder; SQLite unlinks those as it opens them.
(``PRAGMA temp_store_directory`` would move them, but it is process-wide: it would move every
other connection's too, to a folder this class deletes.)
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from bots.core.worklist_files import COLUMNS, Uncached

__all__ = ["ClaimGroups"]

_FLUSH = 5_000  # rows per INSERT batch
_PAYER, _CLAIM = COLUMNS.index("payer_id"), COLUMNS.index("claim_id")
_COLS = ", ".join(f"c{i}" for i in range(len(COLUMNS)))


def _uncached(formula: str) -> Uncached:
    u = Uncached("")
    u.formula = formula
    return u


class ClaimGroups:
    """``add`` every row, then iterate: ``(payer_id, claim_id), [(row number, row), …]`` per claim,
    claims in key order, each claim's rows in file order."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="rcm-bots-worklist-"))
        self._db = sqlite3.connect(self._dir / "rows.db", isolation_level=None)
        # A scratch file: nothing survives a crash on purpose, so no journal and no fsync.
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -16000", "temp_store = FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(f"CREATE TABLE rows (p TEXT, c TEXT, n INTEGER, f TEXT, {_COLS})")
        self._insert = f"INSERT INTO rows VALUES (?, ?, ?, ?, {', '.join('?' * len(COLUMNS))})"
        self._pending: list[tuple[object, ...]] = []

    def add(self, n: int, values: tuple[str, ...]) -> None:
        """One row: its number and its strings in ``COLUMNS`` order (``worklist_files.read_values``)."""
        formulas = None
        if Uncached in set(map(type, values)):
            formulas = json.dumps({i: v.formula for i, v in enumerate(values) if isinstance(v, Uncached)})
        self._pending.append((values[_PAYER].strip().lower(), values[_CLAIM].strip(), n, formulas, *values))
        if len(self._pending) >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._db.execute("BEGIN")
            self._db.executemany(self._insert, self._pending)
            self._db.execute("COMMIT")
            self._pending = []

    def __iter__(self) -> Iterator[tuple[tuple[str, str], list[tuple[int, dict[str, str]]]]]:
        self._flush()
        key: tuple[str, str] | None = None
        rows: list[tuple[int, dict[str, str]]] = []
        for p, c, n, f, *values in self._db.execute(f"SELECT p, c, n, f, {_COLS} FROM rows ORDER BY p, c, n"):
            if (p, c) != key:
                if key is not None:
                    yield key, rows
                key, rows = (p, c), []
            raw = dict(zip(COLUMNS, values, strict=True))
            if f is not None:
                for i, formula in json.loads(f).items():
                    raw[COLUMNS[int(i)]] = _uncached(formula)
            rows.append((n, raw))
        if key is not None:
            yield key, rows

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ClaimGroups:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
