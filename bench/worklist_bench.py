"""Worklist load benchmark: a 50 MB CSV like the one in issue 12 (341,376 service lines,
200,025 claims), loaded into a fresh SQLite store, then loaded again (nothing changes).

    python bench/worklist_bench.py [--rows 341376] [--claims 200025] [--scatter 0.05] [--keep]

Goals on the reference 2-core machine: at least 20,000 rows/s and a peak resident set under
300 MB for the loading process.

Claims have 1 to 7 lines (about 1.7 on average); ``--scatter`` of them have a line placed
thousands of rows later in the file, as exports sorted by date of service do, so the loader's
grouping by claim is part of what is measured. Each load runs in a child process so its peak
resident set (``ru_maxrss``, not tracemalloc: the interpreter, SQLite and the parser count
too) is its own and not the generator's. Prints the machine and the figures; the last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODES = ["99213", "99214", "99215", "36415", "80053", "85025", "93000", "71046", "97110", "97140"]
NPIS = ["1234567893", "1245319599", "1679576722"]  # valid check digits


def write_worklist(path: Path, rows: int, claims: int, scatter: float, rng: random.Random) -> None:
    """``rows`` service lines over ``claims`` claims; a ``scatter`` share of claims not contiguous."""
    from bots.core.worklist import COLUMNS

    lines = [1] * claims
    growable = list(range(claims))
    for _ in range(rows - claims):  # the extra lines, spread over claims of at most 7 lines
        i = rng.randrange(len(growable))
        c = growable[i]
        lines[c] += 1
        if lines[c] == 7:
            growable[i] = growable[-1]
            growable.pop()
    deferred: list[tuple[int, list[str]]] = []  # (write at or after this row count, row)
    written = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for c in range(claims):
            claim_id, payer = f"CLM-{c:08d}", ("acme", "beacon")[c % 2]
            dos = f"2026-{1 + c % 12:02d}-{1 + c % 28:02d}"
            late = lines[c] > 1 and rng.random() < scatter
            for ln in range(1, lines[c] + 1):
                code = CODES[(c + ln) % len(CODES)]
                row = [claim_id, payer, f"M{c % 900_000:09d}", f"PATIENT{c % 5000}, TESTNAME",
                       f"19{40 + c % 60}-{1 + c % 12:02d}-{1 + c % 28:02d}", dos, NPIS[c % 3], str(ln), code,
                       "25" if ln == 1 and code.startswith("992") else "", str(1 + ln % 3),
                       f"{45 + (c * 7 + ln) % 400}.{(c + ln) % 100:02d}", "E11.9;I10", "1;2", "",
                       f"N-{c}", "Y", dos, "", "", ""]
                if late and ln == lines[c]:
                    deferred.append((written + rng.randrange(2_000, 20_000), row))
                    continue
                w.writerow(row)
                written += 1
                while deferred and deferred[0][0] <= written:
                    w.writerow(deferred.pop(0)[1])
                    written += 1
        for _, row in deferred:
            w.writerow(row)
            written += 1
    assert written == rows, (written, rows)


def child(csv_path: Path, db: Path) -> int:
    """One load in this process; prints one JSON line with its figures."""
    from bots.core.logging import configure_logging
    from bots.core.store import Store
    from bots.core.worklist import load_worklist

    configure_logging(None, "WARNING", console=False)
    store = Store(f"sqlite:///{db}")
    t, cpu = time.perf_counter(), time.process_time()
    result = load_worklist(store, csv_path)
    seconds, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    store.close()
    print(json.dumps({**result.as_dict(), "seconds": seconds, "cpu_s": cpu_s,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


def _load_in_child(csv_path: Path, db: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(csv_path), str(db)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the load failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=341_376)
    parser.add_argument("--claims", type=int, default=200_025)
    parser.add_argument("--scatter", type=float, default=0.05, help="share of claims whose lines are not contiguous")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--child", nargs=2, metavar=("CSV", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(Path(args.child[0]), Path(args.child[1]))

    work = Path(tempfile.mkdtemp(prefix="worklist-bench-"))
    csv_path, db = work / "worklist.csv", work / "bots.db"
    print(f"machine: {platform.platform()}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    write_worklist(csv_path, args.rows, args.claims, args.scatter, random.Random(12))
    print(f"generated {csv_path.name}: {args.rows:,} rows, {args.claims:,} claims, "
          f"{csv_path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s (not timed)")

    first = _load_in_child(csv_path, db)
    rows_per_s = first["rows"] / first["seconds"]
    print(f"load: {first['rows']:,} rows, {first['claims_new']:,} claims new, {first['claims_rejected']} held back "
          f"in {first['seconds']:.1f} s ({rows_per_s:,.0f} rows/s; CPU {first['cpu_s']:.1f} s); "
          f"peak RSS {first['peak_mb']:.0f} MB")
    again = _load_in_child(csv_path, db)
    print(f"reload: {again['claims_unchanged']:,} claims unchanged, {again['claims_new']} new, "
          f"{again['claims_updated']} updated in {again['seconds']:.1f} s (CPU {again['cpu_s']:.1f} s); "
          f"peak RSS {again['peak_mb']:.0f} MB")
    ok = (first["rows"] == args.rows and first["claims_new"] == args.claims and first["bad_rows"] == 0
          and again["claims_unchanged"] == args.claims)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"working folder: {work}")
    if not ok:
        print(f"unexpected result: {first} / {again}", file=sys.stderr)
        return 1
    # On a shared machine the wall clock measures the neighbours too; CPU seconds are the load's own.
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"{first['rows'] / first['cpu_s']:,.0f} rows per CPU second")
    print(json.dumps({"bench": "worklist", "rows": first["rows"], "claims": first["claims_new"],
                      "load_s": round(first["seconds"], 1), "rows_per_s": round(rows_per_s),
                      "peak_mb": round(first["peak_mb"]), "load_cpu_s": round(first["cpu_s"], 1),
                      "rows_per_cpu_s": round(first["rows"] / first["cpu_s"]),
                      "reload_s": round(again["seconds"], 1), "reload_cpu_s": round(again["cpu_s"], 1),
                      "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
