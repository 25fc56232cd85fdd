"""Exception workbook benchmark: write 50,000 rows, then merge 10,000 new ones with
5,000 coder edits present (goal: the merge in under 20 s on a 2-core machine).

    python bench/workbook_bench.py [--rows 50000] [--new 10000] [--edits 5000] [--openpyxl-edits]
    python bench/workbook_bench.py --year [--rows 250000] [--new-per-day 1000]

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

``--year`` simulates a year of rows instead (issue 18): 250,000 rows, 20% open, 80% closed
(half Cleared, half resolved by a coder and Synced) with closing times spread over the last 12
months. Each sync runs in a fresh process, so its peak memory is its own:
1. the first sync with archiving (no workbook yet): every closed month goes to its archive file
   (``archive_s``, all months at once: the one-time cost) and the live rows are written;
2. a day later (every timestamp moved back a day, 1,000 rows found, 1,000 open rows cleared):
   the merge reads the live file back, the rows that crossed ``archive_after_days`` overnight are
   archived (only their month's file is written again) and the live workbook is rewritten. Its
   ``live_s`` (the sync without the archive files) is the figure with the goal: under 10 s.

Prints the machine, the figures, and as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
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
# config/appeals.toml's opened_by: a resolution that opens an Appeal Preparation row. The benches' coders
# never choose one, so the store copy that renders their edits opens no row the real store lacks.
APPEALING = ("Appeal", "Reconsideration requested", "Underpayment appeal")


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
                            "resolution": [c for c in layout.choices(queues[ex_id]) if c not in APPEALING][i % 3],
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


YEAR_OPEN = 0.2  # share of open rows; the rest closed over the last 12 months
LAYOUT = WorkbookLayout()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _year_rows(count: int, evidence_dir: Path, rng: random.Random) -> list[dict[str, Any]]:
    """A year of rows: 20% open (found in the last 40 days), the rest closed at a random moment of the
    last 365 days, half Cleared, half resolved by a coder (with full evidence) and Synced."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = _rows(0, count, "bench-year", evidence_dir, rng)
    coder = dict.fromkeys(("status", "resolution", "resolution_note", "resolved_by", "resolved_on",
                           "coder_updated_at", "synced_at"))
    for n, row in enumerate(rows):
        row.update(coder)
        if rng.random() < YEAR_OPEN:
            continue
        closed = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        row.update(first_seen=_iso(closed - timedelta(days=rng.uniform(0, 30))), last_seen=_iso(closed),
                   bot_status="Cleared")
        if n % 2:
            who = f"coder{n % 25:02d}"
            choices = [c for c in LAYOUT.choices(row["queue"]) if c not in APPEALING]  # no appeal to open
            row.update(bot_status="Synced", status="Resolved", resolution=choices[n % len(choices)],
                       resolution_note=f"fixed per documentation, ticket {n}", resolved_by=who,
                       resolved_on=closed.date().isoformat(), coder_updated_at=_iso(closed - timedelta(hours=2)),
                       synced_at=_iso(closed), assigned_to=who)
    return rows


def _next_day(db: Path, count: int, evidence_dir: Path, rng: random.Random) -> list[dict[str, Any]]:
    """Move every timestamp of the store a day back (a day passes), clear ``count`` open rows now;
    return ``count`` rows found now (for the caller to insert)."""
    def day_back(value: str | None) -> str | None:
        return _iso(datetime.fromisoformat(value) - timedelta(days=1)) if value else value

    now = _iso(datetime.now(UTC).replace(tzinfo=None))
    with sqlite3.connect(db) as conn:
        conn.create_function("day_back", 1, day_back, deterministic=True)
        conn.execute("UPDATE exceptions SET first_seen = day_back(first_seen), last_seen = day_back(last_seen), "
                     "synced_at = day_back(synced_at), coder_updated_at = day_back(coder_updated_at)")
        conn.execute("UPDATE exceptions SET bot_status = 'Cleared', last_seen = ?, written_at = NULL WHERE "
                     "exception_id IN (SELECT exception_id FROM exceptions WHERE bot_status = 'Open' "
                     "AND archived_at IS NULL ORDER BY exception_id LIMIT ?)", (now, count))
        rows_as_of = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'workbook'").fetchone()[0])
        rows_as_of["rows_as_of"] = day_back(rows_as_of["rows_as_of"])
        conn.execute("UPDATE meta SET value = ? WHERE key = 'workbook'", (json.dumps(rows_as_of),))
    return _rows(10_000_000, count, "bench-year-2", evidence_dir, rng, backdate=False)


def _sync_in_child(home: str, config_dir: str) -> dict[str, Any]:
    """One sync_workbook in this (fresh) process: its figures and this process's peak memory."""
    settings = Settings(home=Path(home), config_dir=Path(config_dir), _env_file=None)
    settings.ensure_dirs()
    configure_logging(settings.logs_dir, "INFO", console=False)
    store = Store(settings.db_url)
    started, cpu = time.perf_counter(), time.process_time()
    result = sync_workbook(settings, store)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    return {"written": result.written, "message": result.message[:300], "live_rows": result.rows,
            "archived": result.archived, "archive_files": len(result.archive_files), "total_s": round(total, 2),
            "archive_s": round(result.archive_seconds, 2), "live_s": round(total - result.archive_seconds, 2),
            "cpu_s": round(cpu, 2),  # this process's CPU time: on a busy machine the wall times above are longer
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def year(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="workbook-year-"))
    settings = Settings(home=work / "var", config_dir=REPO / "config", _env_file=None)
    settings.ensure_dirs()
    configure_logging(settings.logs_dir, "INFO", console=False)
    store = Store(settings.db_url)
    rng = random.Random(7)
    days = settings.config.workbook.archive_after_days
    print(f"machine: {platform.platform()}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
          f"openpyxl {openpyxl.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"working folder: {work}; archive_after_days = {days}")
    started = time.perf_counter()
    rows = _year_rows(args.rows, settings.evidence_dir, rng)
    _insert(store, rows)
    closed = sum(r["bot_status"] != "Open" for r in rows)
    del rows
    print(f"set-up: {args.rows} rows, {closed} closed over 12 months, in {time.perf_counter() - started:.1f} s")
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1, maxtasksperchild=1) as pool:
        first = pool.apply(_sync_in_child, (str(settings.home), str(settings.config_dir)))
    print(f"first sync: archived {first['archived']} rows to {first['archive_files']} files in "
          f"{first['archive_s']} s, live write of {first['live_rows']} rows {first['live_s']} s, "
          f"CPU {first['cpu_s']} s in all, peak {first['peak_mb']} MB")
    _insert(store, _next_day(settings.home / "bots.db", args.new_per_day, settings.evidence_dir, rng))
    with spawn.Pool(1, maxtasksperchild=1) as pool:
        day2 = pool.apply(_sync_in_child, (str(settings.home), str(settings.config_dir)))
    print(f"a day later: archived {day2['archived']} rows ({day2['archive_files']} file(s) rewritten) in "
          f"{day2['archive_s']} s, live write of {day2['live_rows']} rows {day2['live_s']} s (goal < 10 s), "
          f"CPU {day2['cpu_s']} s in all, peak {day2['peak_mb']} MB")
    archive = settings.workbook_path.parent / "archive"
    files = sorted(archive.glob("*.xlsx"))
    print(f"archive: {len(files)} files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB; live workbook "
          f"{settings.workbook_path.stat().st_size / 1e6:.1f} MB")
    store.close()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ok = first["written"] and day2["written"]
    print(json.dumps({"bench": "workbook-year", "rows": args.rows, "closed": closed, "archive_after_days": days,
                      "first": first, "day2": day2, "live_s": day2["live_s"], "peak_mb": max(first["peak_mb"],
                      day2["peak_mb"]), "load_avg": round(os.getloadavg()[0], 2)}))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=5_000)
    parser.add_argument("--openpyxl-edits", action="store_true", help="type the edits with openpyxl (slow setup)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--year", action="store_true", help="a year of rows with archiving (--rows default 250000)")
    parser.add_argument("--new-per-day", type=int, default=1_000, help="--year: rows found and cleared a day later")
    args = parser.parse_args(argv)
    if args.year:
        if args.rows == parser.get_default("rows"):
            args.rows = 250_000
        return year(args)

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
