"""The leaders' dashboard on PostgreSQL: the same history gives the same figures as on SQLite.

The store's dashboard queries differ by dialect only in how a duration is computed (julianday on
SQLite, EXTRACT(epoch) on PostgreSQL); everything else is portable SQL. Skips where the machine has
no PostgreSQL binaries (the cluster fixture of ``test_store_postgres``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bots.core.report import build_report
from bots.core.store import Store
from core.test_report import FIRST, LAST, generate_history
from core.test_store_postgres import pg_store, pg_url  # noqa: F401 - the throwaway cluster's fixtures


def test_postgresql_gives_the_figures_sqlite_gives(pg_store: Store, store: Store, tmp_path: Path) -> None:  # noqa: F811
    for name, target in (("sqlite", store), ("pg", pg_store)):
        (tmp_path / name).mkdir()
        generate_history(target, tmp_path / name)
    now = datetime(2026, 11, 2, 12, 0)
    lite, pg = (build_report(s, FIRST, LAST, "week", now=now) for s in (store, pg_store))
    assert [s.key for s in pg.sections] == [s.key for s in lite.sections]
    compared = 0
    for ours, theirs in zip(pg.sections, lite.sections, strict=True):
        assert [t.title for t in ours.tables] == [t.title for t in theirs.tables]
        for a, b in zip(ours.tables, theirs.tables, strict=True):
            assert a.columns == b.columns and len(a.rows) == len(b.rows), (ours.key, a.title)
            for row_a, row_b in zip(a.rows, b.rows, strict=True):
                for x, y in zip(row_a, row_b, strict=True):
                    if isinstance(x, float) or isinstance(y, float):  # hours: julianday vs epoch, rounded
                        assert x is not None and y is not None and abs(x - y) <= 0.11, (ours.key, a.title, row_a)
                    else:
                        assert x == y, (ours.key, a.title, row_a, row_b)
                    compared += 1
    assert compared > 500
