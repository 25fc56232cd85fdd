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
from store_helpers import insert_row

KINDS = ("claim_clean", "portal_paid", "status_applied", "coder_resolution")


def add_samples(store: Store) -> None:
    """QA samples of the history's resolved rows and of bot decisions, most reviewed: the same on
    both databases (the rows in exception_id order, dates from the rows themselves)."""
    rows = sorted(store.exception_rows(), key=lambda r: r["exception_id"])
    for n, row in enumerate(r for r in rows if r["coder_updated_at"]):
        kind = KINDS[n % 4]
        reviewed = n % 5 != 4
        insert_row(store, "qa_samples", sample_id=f"QA-{n:06d}", kind=kind, decision_ref=f"ref-{n}", period="p",
                   decided_by=row["resolved_by"].strip() if kind == "coder_resolution" else "claim_edits",
                   item_ref=row["exception_id"], queue=row["queue"], review_level=row["review_level"],
                   rule_id=row["rule_id"], rule_version=str(n % 3), sampled_at=row["coder_updated_at"],
                   qa_result=("Pass", "Fail", " Fail")[n % 3] if reviewed else None,
                   finding_category=("Wrong resolution", "Rule misapplied")[n % 2] if n % 3 else None,
                   bot_status="Synced" if reviewed else "Open", synced_at=row["last_seen"] if reviewed else None)


def test_postgresql_gives_the_figures_sqlite_gives(pg_store: Store, store: Store, tmp_path: Path) -> None:  # noqa: F811
    for name, target in (("sqlite", store), ("pg", pg_store)):
        (tmp_path / name).mkdir()
        generate_history(target, tmp_path / name)
        add_samples(target)
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
    quality = pg.section("quality")
    assert quality.available and sum(quality.table("Per period").column("Fail")) > 0
    assert sum(r[5] for r in pg.section("training").table("Per coder").rows) > 0  # resolutions that failed QA
