"""Exception workbook benchmark: write 50,000 rows, then merge 10,000 new ones with
5,000 coder edits present (goal: the merge in under 20 s on a 2-core machine).

    python bench/workbook_bench.py [--rows 50000] [--new 10000] [--edits 5000] [--openpyxl-edits]

Steps, each through the public API:
1. 50,000 exceptions go into a fresh store (bulk-inserted rows exactly as
   ``Store.record_exceptions`` would leave them: that call costs milliseconds
   per record, which would make the setup the benchmark) and the first
   ``sync_workbook`` writes them: ``write_s``.
2. Coder edits. By default they are injected the fastest faithful way: a copy
   of the store gets the 5,000 edits in its coder columns and renders a fresh
   workbook at the same path, so the file holds exactly the cells a coder
   would have typed (in our writer's format: inline strings). ``--openpyxl-edits`` instead opens the file with
   openpyxl in normal mode, types the edits, and saves (shared strings and
   styles as Excel writes them); slower to set up, same merge.
3. 10,000 new exceptions arrive in the store, and ``sync_workbook`` reads the
   coder edits back, stores and audits them, and rewrites all 60,000 rows:
   ``merge_s``.

Prints the machine, the figures, and as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy import text

from bots.core.logging import configure_logging
from bots.core.settings import Settings
from bots.core.store import Store, exception_id
from bots.core.workbook import sync_workbook
from bots.core.workbook.layout import QUEUE_SHEETS, WorkbookLayout, load_layout

REPO = Path(__file__).resolve().parents[1]
RULES = ("NCCI-PTP", "MUE", "DOC-SIGNATURE", "PORTAL-F2", "PORTAL-P3", "PAY-VARIANCE")


def _rows(start: int, count: int, run_id: str, evidence_dir: Path, rng: random.Random, *,
          backdate: bool = True) -> list[dict[str, Any]]:
    """Exception rows as record_exceptions writes them (deterministic ids, Open, pending). The first
    batch is spread over the last 40 days; a later run's rows (``backdate=False``) are found now, after
    the last write, as a real run's are (a back-dated new row would read as one deleted from the file)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    for n in range(start, start + count):
        claim, rule = f"CLM-{n:07d}", RULES[n % len(RULES)]
        detail = f"{rule.lower()}-{n % 97}"
        ago = timedelta(days=n % 40, minutes=n % 600) if backdate else timedelta(0)
        seen = (now - ago).isoformat(timespec="microseconds")
        out.append({
            "exception_id": exception_id("claim_edits", rule, claim, 1, detail), "queue": QUEUE_SHEETS[n % 5],
            "bot": "claim_edits", "item_ref": f"acme:{claim}", "rule_id": rule, "rule_version": "2026Q4",
            "claim_id": claim, "line_no": 1 + n % 4, "payer_id": ("acme", "beacon")[n % 2],
            "patient": f"PATIENT{n % 5000}, TEST", "dos": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "amount": round(50 + (n % 900) * 1.37, 2), "reason": f"{rule}: procedure pair needs review ({n % 13})",
            "detail": detail, "evidence": f"99214+{99200 + n % 50}; modifier {('', '25', '59')[n % 3]}",
            "evidence_file": str(evidence_dir / run_id / f"{claim}.png") if n % 3 == 0 else None,
            "review_level": "Senior" if rng.random() < 0.15 else "Entry",
            "priority": ("Normal", "High")[n % 7 == 0], "run_id": run_id, "first_seen": seen, "last_seen": seen,
            "times_seen": 1 + n % 3, "bot_status": "Open", "written_at": None,
        })
    return out


def _insert(store: Store, rows: list[dict[str, Any]]) -> None:
    """Synthetic rows straight into the database (raw SQL: the bench sets up, it is not a bot)."""
    cols = list(rows[0])
    sql = f"INSERT INTO exceptions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    with store.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows[i:i + 5000]])


def _edits(ids: list[str], count: int, queues: dict[str, str], layout: WorkbookLayout,
           rng: random.Random) -> dict[str, dict[str, Any]]:
    """What coders typed: half still working, half resolved with full evidence."""
    chosen = rng.sample(ids, count)
    edits = {}
    for i, ex_id in enumerate(chosen):
        who = f"coder{i % 25:02d}"
        if i % 2:
            edits[ex_id] = {"assigned_to": who, "status": "In Progress", "resolution_note": f"called payer, ref {i}"}
        else:
            edits[ex_id] = {"assigned_to": who, "status": "Resolved",
                            "resolution": layout.choices(queues[ex_id])[i % 3],
                            "resolution_note": f"fixed per documentation, ticket {i}", "resolved_by": who,
                            "resolved_on": "2026-11-20"}
    return edits


def _inject_by_render(settings: Settings, edits: dict[str, dict[str, Any]]) -> None:
    """A copy of the store with the edits renders the workbook over the same path."""
    copy_db = settings.home / "coder-copy.db"
    # SQLite's backup API, not a file copy: recent commits may still sit in the -wal file.
    with sqlite3.connect(settings.home / "bots.db") as src, sqlite3.connect(copy_db) as dst:
        src.backup(dst)
    copy = Store(f"sqlite:///{copy_db}")
    with copy.begin() as conn:
        for ex_id, values in edits.items():
            sets = ", ".join(f"{k} = :{k}" for k in values)
            conn.execute(text(f"UPDATE exceptions SET {sets} WHERE exception_id = :ex_id"), {**values, "ex_id": ex_id})
    copy_settings = Settings(home=settings.home, config_dir=settings.config_dir, database_url=f"sqlite:///{copy_db}",
                             _env_file=None)
    # Render fresh: merging the unedited file would (rightly) read its blank cells back as the coder's values.
    settings.workbook_path.unlink()
    result = sync_workbook(copy_settings, copy)
    copy.close()
    copy_db.unlink()
    if not result.written:
        raise SystemExit(f"could not inject the edits: {result.message}")


def _inject_by_openpyxl(path: Path, edits: dict[str, dict[str, Any]]) -> None:
    """Type the edits with openpyxl in normal mode and save, as a coder's Excel would."""
    headers = {"assigned_to": "Assigned To", "status": "Status", "resolution": "Resolution",
               "resolution_note": "Resolution Note", "resolved_by": "Resolved By", "resolved_on": "Resolved On"}
    wb = openpyxl.load_workbook(path)
    for name in QUEUE_SHEETS:
        ws = wb[name]
        col = {c.value: c.column for c in ws[1]}
        for row in ws.iter_rows(min_row=2):
            values = edits.get(row[0].value)
            for field, value in (values or {}).items():
                if field == "resolved_on":
                    value = datetime.fromisoformat(value)
                row[col[headers[field]] - 1].value = value
    wb.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=5_000)
    parser.add_argument("--openpyxl-edits", action="store_true", help="type the edits with openpyxl (slow setup)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="workbook-bench-"))
    settings = Settings(home=work / "var", config_dir=REPO / "config", _env_file=None)
    settings.ensure_dirs()
    configure_logging(settings.logs_dir, "INFO", console=False)
    store = Store(settings.db_url)
    rng = random.Random(7)
    print(f"machine: {platform.platform()}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
          f"openpyxl {openpyxl.__version__}")
    print(f"working folder: {work}")

    _insert(store, _rows(0, args.rows, "bench-run-1", settings.evidence_dir, rng))
    started = time.perf_counter()
    first = sync_workbook(settings, store)
    write_s = time.perf_counter() - started
    print(f"write: {first.message} in {write_s:.2f} s; file {settings.workbook_path.stat().st_size / 1e6:.1f} MB")

    queues = {r["exception_id"]: r["queue"] for r in store.exception_rows()}
    edits = _edits(sorted(queues), args.edits, queues, load_layout(settings), rng)
    started = time.perf_counter()
    if args.openpyxl_edits:
        _inject_by_openpyxl(settings.workbook_path, edits)
    else:
        _inject_by_render(settings, edits)
    print(f"coder edits: {len(edits)} rows typed into the workbook "
          f"({'openpyxl' if args.openpyxl_edits else 'rendered from an edited store copy'}) "
          f"in {time.perf_counter() - started:.1f} s (setup, not timed)")

    _insert(store, _rows(args.rows, args.new, "bench-run-2", settings.evidence_dir, rng, backdate=False))
    started = time.perf_counter()
    merged = sync_workbook(settings, store)
    merge_s = time.perf_counter() - started
    print(f"merge: {merged.message} in {merge_s:.2f} s")
    if not merged.written or merged.edits != len(edits) or merged.rows != args.rows + args.new:
        print(f"unexpected result: written={merged.written} edits={merged.edits} rows={merged.rows}", file=sys.stderr)
        return 1

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    store.close()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"bench": "workbook", "rows": args.rows, "new": args.new, "edits": len(edits),
                      "write_s": round(write_s, 2), "merge_s": round(merge_s, 2), "peak_mb": round(peak_mb)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
