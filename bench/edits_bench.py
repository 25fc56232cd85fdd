"""Benchmark: import a full-size NCCI PTP table, then scan 100,000 service lines with claim_edits.

    python bench/edits_bench.py [--ptp-rows 1000000] [--mue-rows 15000] [--lines 100000]
                                [--max-lines-per-claim 7] [--keep DIR]

Generates a CMS-format PTP file (1,000,000 rows) and MUE file (15,000 rows),
imports both with the real importer, loads a generated worklist (claims of 1
to 7 lines, about 4 on average) and runs the bot through the real runner with
the real rules config, audit chain included and keyed as ``bots run`` keys it
(HMAC, checkpoint file; the workbook write is left out: it is not the scan).
Prints the figures, each with the load average when it was taken (the machine
may be shared), and the machine; the last line is one JSON object.

The scan figure is wall-clock lines per second; "lines per CPU second" beside it
is what the scan costs whatever else the machine runs.

Goals on the reference 2-core machine: import under 30 s, scan at least
20,000 lines/s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bots.claim_edits import create_bot
from bots.claim_edits.importer import import_tables
from bots.core.logging import configure_logging
from bots.core.runner import run_bot
from bots.core.settings import Settings
from bots.core.store import open_store
from bots.core.worklist import COLUMNS, load_worklist

REPO = Path(__file__).resolve().parents[1]
PTP_HEADER = ("Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date *=no data\t"
              "Modifier 0=not allowed 1=allowed 9=not applicable\tPTP Edit Rationale")
MAI_TEXT = {1: "1 Line Edit", 2: "2 Date of Service Edit: Policy", 3: "3 Date of Service Edit: Clinical"}
EM = ["99202", "99203", "99204", "99211", "99212", "99213", "99214", "99215"]
NPIS = ["1234567893", "1245319599", "1679576722"]  # valid check digits


def code_universe(n: int) -> list[str]:
    return [f"{10000 + i * 5:05d}" for i in range(n)]


def write_ptp(path: Path, rows: int, rng: random.Random) -> None:
    """About 100 column-2 codes per column-1 code, like the CMS table; sorted as CMS sorts it."""
    universe = sorted(code_universe(10_000) + EM)
    per_col1 = -(-rows // len(universe))
    eff_dates = ["19960101", "20050101", "20120101", "20180401", "20230101"]
    written = 0
    with path.open("w", newline="") as fh:
        fh.write("CPT codes only; synthetic benchmark table in the CMS PTP layout.\r\n\r\n" + PTP_HEADER + "\r\n")
        for c1 in universe:
            n = min(per_col1, rows - written)
            if n <= 0:
                break
            col2 = sorted(c for c in rng.sample(universe, n + 1) if c != c1)[:n]
            lines = []
            for c2 in col2:
                flag = "*" if rng.random() < 0.1 else ""
                eff = "19960101" if flag else rng.choice(eff_dates)
                dele = "20240101" if rng.random() < 0.1 and eff < "20240101" else "*"
                mi = rng.choices("019", weights=(3, 6, 1))[0]
                lines.append(f"{c1}\t{c2}\t{flag}\t{eff}\t{dele}\t{mi}\tMutually exclusive procedures\r\n")
            fh.writelines(lines)
            written += len(lines)


def write_mue(path: Path, rows: int, rng: random.Random) -> None:
    codes = code_universe(10_000) + EM + [f"J{i:04d}" for i in range(rows)]
    with path.open("w", newline="") as fh:
        fh.write("Synthetic benchmark table in the CMS MUE layout.\r\n\r\n")
        fh.write("HCPCS/CPT Code\tPractitioner Services MUE Values\tMUE Adjudication Indicator\tMUE Rationale\r\n")
        for code in sorted(codes[:rows]):
            mai = 2 if code in EM else rng.choice((1, 2, 3, 3))
            value = 1 if code in EM else rng.randint(1, 6)
            fh.write(f"{code}\t{value}\t{MAI_TEXT[mai]}\tClinical: Data\r\n")


def write_worklist(path: Path, lines: int, rng: random.Random, max_lines: int) -> int:
    pool = rng.sample(code_universe(10_000), 400)
    written = claims = 0
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        while written < lines:
            claims += 1
            n = min(rng.randint(1, max_lines), lines - written)
            dos = f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}"
            payer = rng.choice(("acme", "beacon"))
            codes = ([rng.choice(EM)] if rng.random() < 0.5 else []) + rng.sample(pool, n)
            for i, code in enumerate(codes[:n], start=1):
                flawed = rng.random() < 0.01  # a documentation gap on ~1 in 100 lines
                w.writerow({
                    "claim_id": f"CLM-{claims:07d}", "payer_id": payer, "member_id": f"M{claims:09d}",
                    "patient_name": "PATIENT, SYNTHETIC", "patient_dob": "1970-01-01", "date_of_service": dos,
                    "provider_npi": NPIS[claims % len(NPIS)], "line_no": i, "procedure_code": code,
                    "modifiers": "25" if code in EM else "", "units": 1, "charge": f"{rng.randint(20, 400)}.00",
                    "diagnosis_codes": "E11.9;I10", "diagnosis_pointers": "1;2", "prior_auth_number": "",
                    "note_id": "" if flawed else f"N-{claims}", "note_signed": "Y", "note_date": dos,
                    "time_minutes": "", "submitted_date": "", "expected_amount": "",
                })
                written += 1
    return claims


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the scan's helper processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def machine() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cpus": os.cpu_count(), "sqlite": sqlite3.sqlite_version}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptp-rows", type=int, default=1_000_000)
    ap.add_argument("--mue-rows", type=int, default=15_000)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--max-lines-per-claim", type=int, default=7,
                    help="claims get 1 to N lines, evenly (default 7: about 4 lines a claim)")
    ap.add_argument("--processes", type=int, default=None,
                    help="[bots.claim_edits] processes for the scan (default: as config/bots.toml says)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)

    work = args.keep or Path(tempfile.mkdtemp(prefix="edits-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config"
    if config.exists():
        shutil.rmtree(config)
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns("payers"))
    (config / "payers").mkdir()
    for payer in ("acme", "beacon"):
        (config / "payers" / f"{payer}.toml").write_text('prior_auth_codes = ["72148", "70553"]\n')
    if args.processes is not None:
        bots_toml = config / "bots.toml"
        text = re.sub(r"(?m)^processes = \d+", f"processes = {args.processes}", bots_toml.read_text())
        bots_toml.write_text(text)
    settings = Settings(home=work / "var", config_dir=config)
    if settings.home.exists():
        shutil.rmtree(settings.home)
    settings.ensure_dirs()
    configure_logging(settings.logs_dir, "INFO", console=False)
    store = open_store(settings)  # keyed audit chain and checkpoint file, as `bots run` opens it

    print(f"machine: {json.dumps(machine())}")
    t = time.perf_counter()
    ptp_file, mue_file, worklist = work / "ccipra-bench-f1.txt", work / "mue-bench.txt", work / "worklist.csv"
    write_ptp(ptp_file, args.ptp_rows, rng)
    write_mue(mue_file, args.mue_rows, rng)
    n_claims = write_worklist(worklist, args.lines, rng, args.max_lines_per_claim)
    print(f"generated inputs in {time.perf_counter() - t:.1f}s: PTP {args.ptp_rows:,} rows "
          f"({ptp_file.stat().st_size / 1e6:.0f} MB), MUE {args.mue_rows:,} rows, worklist {args.lines:,} lines / "
          f"{n_claims:,} claims")

    ptp = import_tables(store, [ptp_file])
    import_load = os.getloadavg()[0]
    print(f"PTP import: {ptp.rows:,} rows in {ptp.seconds:.1f}s ({ptp.rows / ptp.seconds:,.0f} rows/s; "
          f"load average {import_load:.1f}) -> {ptp.label}")
    mue = import_tables(store, [mue_file])
    print(f"MUE import: {mue.rows:,} rows in {mue.seconds:.2f}s -> {mue.label}")

    t = time.perf_counter()
    loaded = load_worklist(store, worklist)
    print(f"worklist load: {loaded.rows:,} rows in {time.perf_counter() - t:.1f}s (not part of the scan figure)")

    bot = create_bot(settings)
    processes = settings.config.bot("claim_edits").processes
    t, cpu = time.perf_counter(), cpu_seconds()
    result = run_bot(bot, settings, store, write_workbook=False)
    scan_s, scan_cpu = time.perf_counter() - t, cpu_seconds() - cpu
    scan_load = os.getloadavg()[0]
    if not result.ok:
        print(f"scan failed: {result.message}", file=sys.stderr)
        return 1
    lines_per_s = args.lines / scan_s
    c = result.counts
    print(f"scan: {args.lines:,} lines / {c['items']:,} claims in {scan_s:.2f}s = {lines_per_s:,.0f} lines/s "
          f"(load average {scan_load:.1f} on {os.cpu_count()} CPUs; {c['done']:,} ready to submit, "
          f"{c['exceptions']:,} with exceptions, {c['failed']} failed)")
    print(f"scan CPU: {scan_cpu:.2f}s in {processes} process(es) = {args.lines / scan_cpu:,.0f} lines per CPU second")
    with store.read() as conn:
        records = conn.exec_driver_sql("SELECT count(*) FROM audit").scalar()
    t = time.perf_counter()
    problems = store.verify_audit()
    print(f"audit chain: {records:,} records, {'intact' if not problems else f'{len(problems)} problem(s)'} "
          f"(verified in {time.perf_counter() - t:.1f}s)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_mb:,.0f} MB")
    if args.keep is None:
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"bench": "edits", "ptp_rows": ptp.rows, "import_s": round(ptp.seconds, 1),
                      "import_load": round(import_load, 1), "lines": args.lines, "claims": c["items"],
                      "scan_s": round(scan_s, 2), "lines_per_s": round(lines_per_s),
                      "lines_per_cpu_s": round(args.lines / scan_cpu), "processes": processes, "scan_load": round(scan_load, 1),
                      "audit_records": records, "audit_intact": not problems, "peak_mb": round(peak_mb),
                      "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
