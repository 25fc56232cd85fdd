"""Leaders' dashboard benchmark: ``bots report --by week`` over a year of history (goal: under 10 s
and under 1 GB peak memory on a 2-core machine).

    python bench/report_bench.py [--rows 250000] [--audit 1000000] [--claims 100000] [--keep]

Setup (not timed): a fresh SQLite store gets a year of history, bulk-inserted the way the store
leaves it (``Store.record_exceptions`` and the audit chain cost milliseconds a record, which would
make the setup the benchmark; the report reads no hash): ``--rows`` exception rows across the six
queues (resolved, synced, cleared, recurred, Bot Checks), ``--audit`` audit records (rule
verdicts, item outcomes, portal reads, coder edits, sync failures, retries, restored rows),
``--claims`` claims with two service lines each and their portal reads, about 5,500 runs, and
quality samples: a tenth of the coders' resolutions and ``--samples`` bot decisions, most reviewed,
a Fail opening its QA-REWORK or QA-OVERTURNED row.

Timed: ``bots report --by week --from <a year ago> --to <today>`` as a child process (52-53 weeks,
every section, every chart): wall time, the child's CPU time (user + system: what the run costs on
an idle core, whatever else the machine is doing) and its peak resident memory (``ru_maxrss``).
``--home DIR`` reuses the home a ``--keep`` run left (same history, no setup).

Prints the machine, the figures, and as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bots.core.store import Store

REPO = Path(__file__).resolve().parents[1]
QUEUES = (("Claim Edits", "claim_edits", ("NCCI-PTP", "MUE", "MOD-25", "DX-POINTER", "NPI-LUHN")),
          ("Coding Queries", "claim_edits", ("DOC-SIGNATURE", "TIME-MISSING")),
          ("Documentation Requests", "payer_portal", ("PORTAL-P3", "PORTAL-R1")),
          ("Denials", "payer_portal", ("PORTAL-F2",)),
          ("Payment Variances", "payer_portal", ("PAY-VARIANCE",)),
          ("Bot Failures", "status_sync", ("BOT-FAILURE",)))
CARCS = ("CO-4", "CO-16", "CO-45", "CO-97", "PR-1", "PR-2", "OA-23", "CO-50", "PI-204", "CO-167")
CODERS = tuple(f"Coder {n:02d}" for n in range(25))
ACTIONS = (("rule_evaluated", 0.60), ("item_outcome", 0.16), ("status_read", 0.12), ("coder_update", 0.08),
           ("status_pushed", 0.025), ("status_not_applied", 0.008), ("retry_requested", 0.004),
           ("workbook_row_missing", 0.003))
BOT_SAMPLES = (("claim_clean", "Claim Edits", "ALL-RULES-PASSED", ("1a2b3c4d", "5e6f7a8b")),
               ("portal_paid", "Payment Variances", "PORTAL-F1", ("4", "5")),
               ("status_applied", "Bot Failures", "STATUS-SYNC", ("1",)))
CATEGORIES = ("Wrong resolution", "Evidence missing or insufficient", "Rule misapplied", "Coding error")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def populate(db: Path, *, rows: int, audit: int, claims: int, samples: int, end: datetime,
             rng: random.Random) -> None:
    start = end - timedelta(days=365)
    span = 365 * 86400

    def at(after: datetime | None = None, hours: float = 200.0) -> datetime:
        if after is None:
            return start + timedelta(seconds=rng.uniform(0, span))
        return min(end, after + timedelta(hours=rng.uniform(0.2, hours)))

    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous=OFF")
    keys = [f"{'acme' if n % 3 else 'beacon'}:CLM-{n:07d}" for n in range(claims)]
    claim_rows, line_rows = [], []
    for n, key in enumerate(keys):
        payer, claim_id = key.split(":")
        final = rng.random() < 0.6
        claim_rows.append((key, claim_id, payer, "M" + str(n), "BENCH, PATIENT", "1970-01-01", "2026-01-01", "x",
                           _iso(at()), rng.choice(("F1", "F1", "F1", "F2", "F4")) if final else "P1",
                           _iso(at())[:19], final))
        line_rows.extend((key, line, "99213", 1, 100.0) for line in (1, 2))
    conn.executemany("INSERT INTO claims (claim_key, claim_id, payer_id, member_id, patient_name, patient_dob, "
                     "date_of_service, digest, loaded_at, status_category, status_checked_at, final) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", claim_rows)
    conn.executemany("INSERT INTO service_lines (claim_key, line_no, procedure_code, units, charge) VALUES (?,?,?,?,?)",
                     line_rows)
    del claim_rows, line_rows

    batch: list[tuple] = []  # type: ignore[type-arg]
    qa: list[dict[str, object]] = []

    def sample(kind: str, ref: str, decided_by: str, decided: datetime, queue: str, level: str, rule: str,
               version: str) -> None:
        drawn = at(decided, 30)
        row = {"sample_id": f"QA-{len(qa):012X}", "kind": kind, "decision_ref": ref, "period": "bench",
               "decided_by": decided_by, "decided_at": _iso(decided), "item_ref": ref, "queue": queue,
               "review_level": level, "rule_id": rule, "rule_version": version, "sampled_at": _iso(drawn),
               "qa_result": None, "finding_category": None, "bot_status": "Open", "synced_at": None,
               "followup_id": None}
        if rng.random() < 0.9:
            reviewed = at(drawn, 100)
            row.update(qa_result="Fail" if rng.random() < 0.12 else "Pass", bot_status="Synced",
                       synced_at=_iso(reviewed))
            if row["qa_result"] == "Fail":
                followup = f"EX-Q{len(qa):011X}"
                row.update(finding_category=rng.choice(CATEGORIES), followup_id=followup)
                batch.append((followup, queue, "quality", row["sample_id"], "QA-REWORK" if kind == "coder_resolution"
                              else "QA-OVERTURNED", version, "CLM-QA", 1, "acme", "BENCH, PATIENT", "2026-01-01",
                              100.0, "reason", row["sample_id"], level, "Normal", None, _iso(reviewed), _iso(reviewed),
                              1, "Open", None, None, None, None, None, None))
        qa.append(row)

    for n in range(rows):
        queue, bot, rules = QUEUES[n % len(QUEUES)]
        first = at()
        values = {"status": None, "resolved_by": None, "resolution": None, "coder_updated_at": None,
                  "synced_at": None, "bot_status": "Open", "bot_check": None, "last_seen": first}
        fate = rng.random()
        if fate < 0.5:
            updated = at(first, 300)
            values.update(status="Resolved", resolved_by=rng.choice(CODERS), coder_updated_at=updated,
                          resolution="Retry by bot" if queue == "Bot Failures" else "Corrected")
            if rng.random() < 0.75:
                synced = at(updated, 48)
                values.update(bot_status="Synced", synced_at=synced)
                if rng.random() < 0.08:
                    values.update(bot_status="Open", bot_check="recurred after it was resolved and synced",
                                  last_seen=at(synced))
        elif fate < 0.7:
            values.update(bot_status="Cleared", last_seen=at(first))
        elif fate < 0.75:
            values.update(status="In Progress", bot_check="missing Resolution Note")
        detail = f"F2|Denied|carc={','.join(rng.sample(CARCS, rng.randint(1, 3)))}" if queue == "Denials" \
            else f"detail-{n % 997}"
        level = "Senior" if rng.random() < 0.2 else "Entry"
        if values["coder_updated_at"] and queue != "Bot Failures" and rng.random() < 0.1:
            sample("coder_resolution", f"EX-{n:012X}", values["resolved_by"], values["coder_updated_at"], queue,
                   level, rules[0], "1")
        batch.append((f"EX-{n:012X}", queue, bot, keys[n % claims], rng.choice(rules), "1", keys[n % claims][-11:], 1,
                      keys[n % claims].split(":")[0], "BENCH, PATIENT", "2026-01-01", 100.0, "reason", detail,
                      level, "Normal", "bench", _iso(first),
                      _iso(values["last_seen"]), 1, values["bot_status"], values["bot_check"], values["status"],
                      values["resolution"], values["resolved_by"],
                      _iso(values["coder_updated_at"]) if values["coder_updated_at"] else None,
                      _iso(values["synced_at"]) if values["synced_at"] else None))
        if len(batch) >= 50_000:
            _exceptions(conn, batch)
    for _ in range(samples):
        kind, queue, rule, versions = rng.choice(BOT_SAMPLES)
        sample(kind, f"bench|{rng.choice(keys)}|run", kind, at(), queue, "Entry", rule, rng.choice(versions))
    _exceptions(conn, batch)
    conn.executemany(f"INSERT INTO qa_samples ({', '.join(qa[0])}) VALUES ({', '.join('?' * len(qa[0]))})",
                     [tuple(r.values()) for r in qa])

    names = [a for a, _w in ACTIONS]
    weights = [w for _a, w in ACTIONS]
    moments = sorted(at() for _ in range(audit))
    records = []
    for seq, moment in enumerate(moments, 1):
        action = rng.choices(names, weights)[0]
        key = rng.choice(keys)
        bot = "claim_edits" if action in ("rule_evaluated", "item_outcome") else (
            "payer_portal" if action == "status_read" else "status_sync")
        result = {"rule_evaluated": "fail" if rng.random() < 0.15 else "pass",
                  "item_outcome": rng.choice(("done", "done", "exception", "fault")),
                  "status_not_applied": rng.choice(("not_found", "refused", "unmapped"))}.get(action, "ok")
        rule = rng.choice(QUEUES[0][2]) if action == "rule_evaluated" else None
        records.append((seq, _iso(moment), bot, key, key.split(":")[1], action, rule, result, "0" * 64, "0" * 64))
        if len(records) == 100_000:
            _audit(conn, records)
    _audit(conn, records)

    run_rows = []
    day = start
    n = 0
    while day < end:
        for bot, hour in (("claim_edits", 6), ("payer_portal", 6), ("status_sync", 7), ("status_sync", 13),
                          ("payer_portal", 14)):
            began = day.replace(hour=hour)
            status = rng.choice(("succeeded",) * 12 + ("degraded", "failed", "missed"))
            items = rng.randint(0, 800)
            run_rows.append((f"bench-{n}", bot, "scheduler", status, _iso(began), _iso(began + timedelta(minutes=20)),
                             items, items // 2, items // 3, rng.randint(0, 5), 0,
                             rng.randint(0, 20) if status == "degraded" else 0, rng.randint(0, 10)))
            n += 1
        day += timedelta(days=1)
    conn.executemany("INSERT INTO runs (run_id, bot, trigger, status, started_at, ended_at, items, done, exceptions, "
                     "failed, deferred, carried_over, retries) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", run_rows)
    conn.commit()
    conn.close()


def _exceptions(conn: sqlite3.Connection, batch: list[tuple]) -> None:  # type: ignore[type-arg]
    conn.executemany(
        "INSERT INTO exceptions (exception_id, queue, bot, item_ref, rule_id, rule_version, claim_id, line_no, payer_id, "
        "patient, dos, amount, reason, detail, review_level, priority, run_id, first_seen, last_seen, times_seen, "
        "bot_status, bot_check, status, resolution, resolved_by, coder_updated_at, synced_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
    conn.commit()
    batch.clear()


def _audit(conn: sqlite3.Connection, records: list[tuple]) -> None:  # type: ignore[type-arg]
    conn.executemany("INSERT INTO audit (seq, ts, bot, item_ref, claim_id, action, rule_id, result, prev_hash, hash) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?)", records)
    conn.commit()
    records.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20_000, help="bot decisions sampled for QA")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--home", type=Path, help="reuse the populated home of a --keep run (no setup)")
    args = parser.parse_args(argv)

    print(f"machine: {platform.platform()}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
          f"load {os.getloadavg()[0]:.2f}")
    end = datetime.now(UTC).replace(tzinfo=None)
    if args.home:
        home, work = args.home, args.home.parent
        args.keep = True
    else:
        work = Path(tempfile.mkdtemp(prefix="report-bench-"))
        home = work / "var"
        home.mkdir()
        Store(f"sqlite:///{home / 'bots.db'}").close()  # the tables, as the store makes them
        started = time.perf_counter()
        populate(home / "bots.db", rows=args.rows, audit=args.audit, claims=args.claims, samples=args.samples,
                 end=end, rng=random.Random(16))
        print(f"setup: {args.rows:,} exception rows, {args.audit:,} audit records, {args.claims:,} claims, "
              f"{args.samples:,} bot decisions sampled (and a tenth of the resolutions) in "
              f"{time.perf_counter() - started:.1f} s (not timed)")
    print(f"working folder: {work}")

    out = work / "dashboard.html"
    command = [sys.executable, "-m", "bots", "--home", str(home), "--config-dir", str(REPO / "config"), "report",
               "--by", "week", "--from", (end.date() - timedelta(days=364)).isoformat(), "--to",
               end.date().isoformat(), "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    report_s = time.perf_counter() - started
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = child.ru_maxrss / 1024  # kilobytes on Linux
    cpu_s = child.ru_utime + child.ru_stime
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        return 1
    print(done.stderr.strip())
    figures = json.loads(out.with_suffix(".json").read_text())
    print(f"report: {len(figures['periods'])} weeks, {len(figures['sections'])} sections, HTML "
          f"{out.stat().st_size / 1e6:.1f} MB, in {report_s:.2f} s ({cpu_s:.2f} s CPU); peak {peak_mb:.0f} MB; load "
          f"{os.getloadavg()[0]:.2f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"bench": "report", "rows": args.rows, "audit": args.audit, "report_s": round(report_s, 2),
                      "cpu_s": round(cpu_s, 2), "peak_mb": round(peak_mb), "load": round(os.getloadavg()[0], 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
