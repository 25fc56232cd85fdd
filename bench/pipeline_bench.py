"""Benchmark: the whole pipeline under load: claim_edits → payer_portal → status_sync.

    python bench/pipeline_bench.py [--claims 1000[,10000]] [--robots 1|2] [--postgres]
                                   [--faults latency_ms=300,error_rate=0.03] [--profile] [--keep DIR]
    python bench/pipeline_bench.py --claims 60          # the quick self-check (under a minute)

For each size, a realistic mix of ``--claims`` claims is generated (alternating acme / beacon):

- about a third unsubmitted, for claim_edits: most clean (they hand billing "Ready to submit"), the
  rest with an NCCI pair, an MUE excess, a missing clinical note or a missing modifier 25;
- the rest submitted 47 to 122 days ago, for payer_portal, with portal_bench's status mix (paid,
  pending, denied, rejected, information requested …): their statuses queue billing updates and
  some open Denials, Claim Edits, Documentation Requests or Payment Variances rows;
- every claim in the billing work queue; after payer_portal, coders resolve 60 % of the claims
  claim_edits raised rows for (one row per claim, typed into the coder columns of the exception
  workbook with openpyxl and saved, as ``tests/workbook_helpers.coder_edit`` does), so status_sync
  applies their resolutions beside the bots' updates.

The worklist is loaded with ``bots worklist load``; then each stage is ``bots run <bot> --json``,
the real CLI as a scheduler starts it, in its own process (one per robot), against the mock
portals in a separate process (``bench_portals.Portals``) with ``--faults``. Per robot process:
CPU from ``os.wait4`` (its own and every process under it it reaped: Playwright's driver and
Chromium), of which the bot's own Python (its ``/proc`` stat read once it exited, before it is
reaped; the rest is "browser"), peak RSS of the bot process and peak PSS of the whole tree
(Chromium included: a page shared by its processes counts once), both sampled every 0.5 s. The
mock portals' CPU (and PostgreSQL's: the postmaster with its reaped backends) is read from
``/proc`` around each stage, never counted as the robots'. ``--profile`` attaches py-spy to the
(first) robot of each stage from outside and prints where its threads at work spend their time.

Configurations: by default one robot, unpinned, on SQLite. ``--robots 2 --postgres`` starts a
throwaway PostgreSQL cluster (``tests/pg_cluster.py``; removed at the end) and runs the same claims
three times, each on an empty database: one robot pinned to core 0 (``taskset -c 0``), two robots
pinned to cores 0 and 1 sharing the queue (standing in for two machines: their own BOTS_HOME and
browser, one database, one audit key, one workbook on a share), and two robots unpinned. The second
robots of a stage start at the same moment, as two machines on one schedule would (``--stagger``:
the second once the first has queued its items, see ``run_stage``).

After each configuration it checks that no work was done twice: each claim_edits / payer_portal
item's outcome is in the audit trail once (``item_outcome`` done / exception / failed), and every
entry in the billing app's change history (``/billing/api/queue``) is one ``status_pushed`` audit
record, none repeated.

Prints the machine, per stage items/s, seconds and CPU seconds per item (robot, of which bot
Python; mock; PostgreSQL), end to end seconds and peak memory, each configuration with the load
average (1, 5, 15 min) before it; with two sizes, both side by side; with ``--robots 2`` the
per-stage speed-ups. The last lines are one JSON object per configuration.

Goals on the reference 2-core machine: 10,000 claims end to end under 30 minutes with one robot;
two pinned robots at least 1.8x one pinned robot on every stage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench_portals import Portals
from portal_bench import PASSWORDS, SECRET, portal_claim, write_bench_files  # the payers, their status mix

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # pg_cluster: the throwaway cluster the PostgreSQL tests use

from pg_cluster import PgCluster  # noqa: E402

STAGES = ("claim_edits", "payer_portal", "status_sync")
CLK = os.sysconf("SC_CLK_TCK")
UNSUBMITTED = 0.35  # share of claims not yet submitted (claim_edits' work)
RESOLVED = 0.6      # share of claims with claim_edits rows a coder resolves before status_sync runs

# claim_edits scenarios: (name, share, lines as (code, modifiers, units, note present)).
EDITS = [
    ("clean", 0.60, [("99213", "", 1, True)]),
    ("ncci_pair", 0.12, [("20610", "", 1, True), ("76942", "", 1, True)]),  # modifier indicator 0
    ("mue_units", 0.08, [("20610", "", 2, True)]),                         # MUE 1, line edit
    ("note_missing", 0.10, [("99213", "", 1, False)]),
    ("mod25_missing", 0.10, [("99213", "", 1, True), ("20610", "", 1, True)]),
]
# The coder's resolution per queue (each maps to a billing status in config/billing.toml).
RESOLUTIONS = {"Claim Edits": "Modifier corrected", "Coding Queries": "Coding updated",
               "Documentation Requests": "Records sent"}


# ---- the claims ----------------------------------------------------------------------------------

@dataclass
class Generated:
    data: Path
    worklist: Path
    unsubmitted: int
    submitted: int


def generate(n: int, folder: Path, seed: int = 20261130) -> Generated:
    """The mock portals' data (both payers and billing) and the worklist for ``n`` claims."""

    rng = random.Random(seed)
    today = date.today()
    portal: dict[str, list[dict[str, Any]]] = {"acme": [], "beacon": []}
    billing: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    unsubmitted = 0
    for i in range(n):
        payer = "acme" if i % 2 == 0 else "beacon"
        claim_id = f"CLM-{600000 + i}"
        member = f"A{700000000 + i}" if payer == "acme" else f"BCN{800000000 + i}"
        base = {"claim_id": claim_id, "payer_id": payer, "member_id": member, "patient_name": f"PATIENT, BENCH{i}",
                "patient_dob": "1970-01-01", "provider_npi": "1234567893", "diagnosis_codes": "M17.11;I10",
                "diagnosis_pointers": "1", "prior_auth_number": "", "note_signed": "Y", "time_minutes": ""}
        if rng.random() < UNSUBMITTED:
            unsubmitted += 1
            dos = today - timedelta(days=rng.randint(3, 20))
            _name, _share, lines = rng.choices(EDITS, [e[1] for e in EDITS])[0]
            for no, (code, mods, units, note) in enumerate(lines, start=1):
                rows.append({**base, "date_of_service": dos.isoformat(), "line_no": no, "procedure_code": code,
                             "modifiers": mods, "units": units, "charge": "185.00", "note_id": f"N-{i}" if note else "",
                             "note_date": dos.isoformat(), "submitted_date": "", "expected_amount": ""})
            billing.append({"claim_id": claim_id, "payer_id": payer, "status": "In coding", "note": "",
                            "updated_at": "2026-11-01T08:00:00+00:00", "history": []})
            continue
        dos = today - timedelta(days=rng.randint(45, 120))
        record, billed, expected = portal_claim(rng, i, payer, claim_id, member, dos)
        portal[payer].append(record)
        rows.append({**base, "date_of_service": dos.isoformat(), "line_no": 1, "procedure_code": "99213",
                     "modifiers": "", "units": 1, "charge": f"{billed:.2f}", "note_id": f"N-{i}",
                     "note_date": dos.isoformat(), "submitted_date": (dos + timedelta(days=2)).isoformat(),
                     "expected_amount": f"{expected:.2f}"})
        billing.append({"claim_id": claim_id, "payer_id": payer, "status": "Submitted", "note": "",
                        "updated_at": "2026-11-01T08:00:00+00:00", "history": []})
    data_path, worklist = write_bench_files(folder, portal, rows, billing)
    return Generated(data_path, worklist, unsubmitted, n - unsubmitted)


def resolve_rows(workbook: Path) -> int:
    """What coders do between the runs: open the workbook, mark 60 % of the claims claim_edits
    raised rows for Resolved (one row per claim, with resolution, note and name), save."""
    from openpyxl import load_workbook

    wb = load_workbook(workbook)
    typed, seen = 0, set()
    for sheet, resolution in RESOLUTIONS.items():
        if sheet not in wb.sheetnames:
            continue
        ws = wb[sheet]
        col = {c.value: c.column for c in ws[1]}
        for r in range(2, ws.max_row + 1):
            claim, rule = ws.cell(r, col["Claim ID"]).value, str(ws.cell(r, col["Rule ID"]).value or "")
            if not claim or rule.startswith("PORTAL-") or claim in seen:
                continue
            seen.add(claim)
            if int(hashlib.sha256(claim.encode()).hexdigest()[:8], 16) / 2**32 >= RESOLVED:
                continue
            for header, value in (("Status", "Resolved"), ("Resolution", resolution),
                                  ("Resolution Note", f"fixed per {rule}"), ("Resolved By", "bench.coder")):
                ws.cell(r, col[header]).value = value
            typed += 1
    wb.save(workbook)
    wb.close()
    return typed


# ---- measuring processes -------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except OSError:
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _tree(root: int) -> list[int]:
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def proc_cpu(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds of ``pid`` (with ``reaped``: and of the children it has waited for)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            f = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if reaped else 0)
    return ticks / CLK


class Sampler(threading.Thread):
    """Every 0.5 s: the tree's PSS (peak kept) and the bot's own RSS high-water mark."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.stop = root, threading.Event()
        self.peak_pss = self.bot_hwm = 0

    def run(self) -> None:
        while not self.stop.wait(0.5):
            pss = 0
            for pid in _tree(self.root):
                try:
                    with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                        pss += next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith(b"Pss:"))
                    if pid == self.root:
                        with open(f"/proc/{pid}/status", "rb") as fh:
                            self.bot_hwm = next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith(b"VmHWM:"))
                except (OSError, StopIteration):
                    continue
            self.peak_pss = max(self.peak_pss, pss)


@dataclass
class RobotRun:
    index: int
    summary: dict[str, Any]
    wall_s: float
    cpu_s: float
    cpu_parts: dict[str, float]  # bot: the Python process itself; under_it: the processes it reaped
    peak_pss: int
    bot_hwm: int
    started: float
    ended: float
    phases: tuple[float, float, float, float] | None = None  # run start, first item, last item, run end


@dataclass
class Robot:
    """One robot machine: its own BOTS_HOME and core, the shared database, config and key."""

    index: int
    env: dict[str, str]
    cpus: str | None  # taskset's list, None unpinned
    home: Path
    spy: subprocess.Popen[bytes] | None = None
    log_offset: int = 0

    def command(self, *args: str) -> list[str]:
        return (["taskset", "-c", self.cpus] if self.cpus else []) + [sys.executable, "-m", "bots", *args]

    @property
    def log(self) -> Path:
        return self.home / "logs" / "bots.jsonl"

    def start(self, bot: str, profile: Path | None = None) -> tuple[subprocess.Popen[bytes], Sampler, float]:
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        log = self.home / f"{bot}.out"
        with open(log, "wb") as out, open(self.home / f"{bot}.err", "wb") as err:
            proc = subprocess.Popen(self.command("run", bot, "--json"), stdout=out, stderr=err, env=self.env, cwd=REPO)
        if profile is not None:  # attached from outside: its own CPU is not the robot's
            self.spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(proc.pid), "--nonblocking",
                 "-r", "50", "-f", "raw", "-o", str(profile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sampler = Sampler(proc.pid)
        sampler.start()
        return proc, sampler, time.monotonic()

    def finish(self, bot: str, proc: subprocess.Popen[bytes], sampler: Sampler, started: float) -> RobotRun:
        # Wait for the exit without reaping: the zombie's /proc stat holds its final CPU, its own
        # apart from what it reaped (Playwright's driver and, through it, Chromium).
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        ended = time.monotonic()
        own = proc_cpu(proc.pid)
        _pid, status, usage = os.wait4(proc.pid, 0)
        if self.spy is not None:
            self.spy.wait(timeout=60)
            self.spy = None
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
        sampler.join()
        out = (self.home / f"{bot}.out").read_text().strip().splitlines()
        if proc.returncode not in (0, 1) or not out:
            err = (self.home / f"{bot}.err").read_text()[-3000:]
            raise SystemExit(f"robot {self.index}: bots run {bot} exited {proc.returncode}: {err}")
        summary = json.loads(out[-1])
        total = usage.ru_utime + usage.ru_stime
        return RobotRun(self.index, summary, ended - started, total, {"bot": own, "under_it": total - own},
                        sampler.peak_pss, sampler.bot_hwm, started, ended, phases(self.log, self.log_offset, bot))


# ---- one configuration ---------------------------------------------------------------------------

@dataclass
class Config:
    name: str
    robots: int
    pins: list[str | None]
    postgres: bool


@dataclass
class Stage:
    bot: str
    runs: list[RobotRun]
    mock_cpu: float
    pg_cpu: float | None
    load: str
    gap_s: float = 0.0

    @property
    def seconds(self) -> float:
        return max(r.ended for r in self.runs) - min(r.started for r in self.runs)

    def count(self, key: str) -> int:
        return sum(int(r.summary[key]) for r in self.runs)

    @property
    def cpu(self) -> float:
        return sum(r.cpu_s for r in self.runs)

    def figures(self) -> dict[str, Any]:
        n = max(self.count("items"), 1)
        bot_py = sum(r.cpu_parts["bot"] for r in self.runs)
        out = {"items": self.count("items"), "done": self.count("done"), "exceptions": self.count("exceptions"),
               "failed": self.count("failed"), "left": self.count("items") - self.count("done")
               - self.count("exceptions") - self.count("failed"), "retries": self.count("retries"),
               "seconds": round(self.seconds, 1), "items_per_s": round(self.count("items") / self.seconds, 2),
               "cpu_s_per_item": round(self.cpu / n, 4), "bot_python_cpu_s_per_item": round(bot_py / n, 4),
               "browser_cpu_s_per_item": round((self.cpu - bot_py) / n, 4),
               "mock_cpu_s_per_item": round(self.mock_cpu / n, 4),
               "peak_pss_mb": round(max(r.peak_pss for r in self.runs) / 2**20),
               "bot_peak_rss_mb": round(max(r.bot_hwm for r in self.runs) / 2**20),
               "statuses": sorted({r.summary["status"] for r in self.runs}), "load_avg_before": self.load}
        if self.pg_cpu is not None:
            out["postgres_cpu_s_per_item"] = round(self.pg_cpu / n, 4)
        known = [r.phases for r in self.runs if r.phases]
        if len(known) == len(self.runs):
            # Fixed costs against the items: process and browser start, sign-in, workbook write.
            out["phases_s"] = {"start_to_first_item": round(max(p[1] - p[0] for p in known), 1),
                               "items": round(max(p[2] for p in known) - min(p[1] for p in known), 1),
                               "last_item_to_end": round(max(p[3] - p[2] for p in known), 1)}
        # Where the time goes: a robot using about all of its core(s) is CPU-bound; well below, it
        # waits on the portals (their latency times the contexts a payer allows) or on a lock.
        out["robot_cores_busy"] = round(self.cpu / self.seconds, 2)
        everything = self.cpu + self.mock_cpu + (self.pg_cpu or 0.0)
        out["cpu_ceiling_items_per_s"] = {
            "robot_on_1_core": round(n / self.cpu, 1) if self.cpu else None,
            "all_processes_on_2_cores": round(2 * n / everything, 1) if everything else None}
        if len(self.runs) > 1:
            out["per_robot_items"] = [int(r.summary["items"]) for r in self.runs]
            out["second_robot_started_after_s"] = round(self.gap_s, 1)
        return out


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def prepare_config(folder: Path, shared: Path, *, pinned: bool) -> Path:
    config = folder / "config"
    shutil.copytree(REPO / "config", config)
    for path in (config / "payers").glob("*.toml"):  # the bench must not depend on the day it runs
        path.write_text(re.sub(r"(?ms)^\[\[maintenance\]\]\n.*?(?=^\[)", "", path.read_text()))
    bots_toml = config / "bots.toml"  # one workbook on the share, whichever robot writes it
    bots_toml.write_text(re.sub(r'(?m)^path = "exceptions.xlsx".*$', f'path = "{shared / "exceptions.xlsx"}"',
                                bots_toml.read_text()))
    if pinned:  # a robot on one core (taskset) is a one-core machine: claim_edits' helper would share it
        bots_toml.write_text(re.sub(r"(?ms)(^\[bots\.claim_edits\]\n.*?)^processes = \d+", r"\g<1>processes = 1",
                                    bots_toml.read_text(), count=1))
    return config


def robots_for(cfg: Config, folder: Path, url: str, db_url: str | None) -> list[Robot]:
    shared = folder / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    config = prepare_config(folder, shared, pinned=any(cfg.pins))
    key = secrets.token_hex(32)  # one audit key for every robot, as BOTS_AUDIT_KEY on each machine
    robots = []
    for i in range(cfg.robots):
        home = folder / f"robot-{i}"
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BOTS_HOME": str(home), "BOTS_CONFIG_DIR": str(config), "BOTS_AUDIT_KEY": key,
               "BOTS_PAYER_ACME_URL": f"{url}/acme", "BOTS_PAYER_ACME_USERNAME": "robot",
               "BOTS_PAYER_ACME_PASSWORD": PASSWORDS["acme"],
               "BOTS_PAYER_BEACON_URL": f"{url}/beacon", "BOTS_PAYER_BEACON_USERNAME": "robot",
               "BOTS_PAYER_BEACON_PASSWORD": PASSWORDS["beacon"], "BOTS_PAYER_BEACON_TOTP_SECRET": SECRET,
               "BOTS_BILLING_URL": f"{url}/billing", "BOTS_BILLING_USERNAME": "robot",
               "BOTS_BILLING_PASSWORD": PASSWORDS["billing"]}
        if db_url:
            env["BOTS_DATABASE_URL"] = db_url
        env.pop("BOTS_AUDIT_KEY_FILE", None)
        robots.append(Robot(i, env, cfg.pins[i], home))
    return robots


def db_url_of(robots: list[Robot]) -> str:
    return robots[0].env.get("BOTS_DATABASE_URL") or f"sqlite:///{(robots[0].home / 'bots.db').resolve()}"


def _ts(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def phases(log: Path, offset: int, bot: str) -> tuple[float, float, float, float] | None:
    """From the robot's log past ``offset``: when its run started, its first and last item
    finished, and the run finished (None when items are not logged at info level)."""
    start = end = None
    items: list[float] = []
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            for raw in fh:
                try:
                    e = json.loads(raw)
                except ValueError:
                    continue
                if e.get("bot") != bot:
                    continue
                if e.get("event") == "run_started":
                    start = _ts(e["timestamp"])
                elif e.get("event") == "run_finished":
                    end = _ts(e["timestamp"])
                elif e.get("event") == "item_finished" and e.get("item"):
                    items.append(_ts(e["timestamp"]))
    except OSError:
        return None
    if start is None or end is None or not items:
        return None
    return start, min(items), max(items), end


def enqueued_since(log: Path, offset: int, bot: str) -> bool:
    """Whether ``bot``'s run logged ``items_enqueued`` (its enqueue committed) past ``offset``."""
    try:
        with log.open("rb") as fh:
            fh.seek(offset)
            return any(b'"items_enqueued"' in line and f'"bot": "{bot}"'.encode() in line for line in fh)
    except OSError:
        return False


def claimed_any(db_url: str, bot: str) -> bool:
    """Whether some item of ``bot`` has left ``new`` (the first robot enqueued and claimed)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM work_items WHERE bot = :b AND state <> 'new'"),
                                     {"b": bot}).scalar())
    finally:
        engine.dispose()


def run_stage(bot: str, robots: list[Robot], portals: Portals, pg: PgCluster | None, *, together: bool,
              profile: Path | None) -> Stage:
    before = load()
    mock0 = proc_cpu(portals.proc.pid)
    pg0 = proc_cpu(pg.postmaster_pid(), reaped=True) if pg else 0.0
    log = robots[0].home / "logs" / "bots.jsonl"
    offset = log.stat().st_size if log.exists() else 0
    started = [robots[0].start(bot, profile)]
    gap = 0.0
    if len(robots) > 1:
        if not together:
            # --stagger: the second robot starts once the first has queued the stage's items
            # (claim_edits: once it has claimed work), to see the speed-up without the start-up
            # both robots pay. By default they start together: their enqueues insert the same new
            # items (ON CONFLICT DO NOTHING) and their first claim_edits runs share one load of the
            # sample tables (the tables lock).
            def ready() -> bool:
                return (claimed_any(db_url_of(robots), bot) if bot == "claim_edits"
                        else enqueued_since(log, offset, bot))

            t0 = time.monotonic()
            while not ready() and time.monotonic() - t0 < 120 and started[0][0].poll() is None:
                time.sleep(0.1)
            gap = time.monotonic() - t0
        started += [r.start(bot) for r in robots[1:]]
    runs = [r.finish(bot, *s) for r, s in zip(robots, started, strict=True)]
    time.sleep(0.3)  # the backends of the robots' connections exit and are reaped
    mock = proc_cpu(portals.proc.pid) - mock0
    pg_cpu = proc_cpu(pg.postmaster_pid(), reaped=True) - pg0 if pg else None
    return Stage(bot, runs, mock, pg_cpu, before, gap)


def check_once(db_url: str, portals: Portals) -> dict[str, Any]:
    """No work done twice: each claim_edits / payer_portal item's outcome committed once, each
    billing change one ``status_pushed`` record and never repeated."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        q = ("SELECT bot, item_ref, count(*) FROM audit WHERE action = 'item_outcome' "
             "AND result IN ('done', 'exception', 'failed') GROUP BY bot, item_ref")
        settled: dict[str, Counter[int]] = {}
        for bot, _ref, n in conn.execute(text(q)):
            settled.setdefault(bot, Counter())[n] += 1
        for bot in STAGES:
            hist = settled.get(bot, Counter())
            items = conn.execute(text("SELECT count(*) FROM work_items WHERE bot = :b"), {"b": bot}).scalar()
            out[bot] = {"items": items, "settled_once": hist.get(1, 0),
                        "settled_twice_or_more": sum(v for k, v in hist.items() if k > 1),
                        "claimed_more_than_once": conn.execute(text(
                            "SELECT count(*) FROM work_items WHERE bot = :b AND attempts > 1"), {"b": bot}).scalar()}
        reads = conn.execute(text("SELECT item_ref, count(*) FROM audit WHERE action = 'status_read' "
                                  "GROUP BY item_ref HAVING count(*) > 1")).all()
        out["payer_portal"]["status_read_twice"] = len(reads)
        pushed = Counter()
        for claim_id, detail in conn.execute(text("SELECT claim_id, detail FROM audit WHERE action = 'status_pushed'")):
            after = (json.loads(detail or "{}").get("after") or {})
            pushed[(claim_id, after.get("status"), after.get("note"))] += 1
    engine.dispose()
    history = Counter()
    for claim_id, entry in portals.queue().items():
        for h in entry.get("history") or []:
            history[(claim_id, h["status"], " ".join(str(h["note"]).split()))] += 1
    out["status_sync"].update({
        "billing_changes": sum(history.values()), "status_pushed_records": sum(pushed.values()),
        "billing_changes_repeated": sum(n - 1 for n in history.values() if n > 1),
        "pushed_records_repeated": sum(n - 1 for n in pushed.values() if n > 1),
        "changes_without_one_record": sum(1 for k, n in history.items() if pushed.get(k) != n)})
    twice = sum(out[b]["settled_twice_or_more"] for b in STAGES[:2]) + out["status_sync"]["billing_changes_repeated"] \
        + out["status_sync"]["changes_without_one_record"]
    out["items_done_twice"] = twice
    return out


def run_config(cfg: Config, gen: Generated, folder: Path, faults: str, pg: PgCluster | None, *,
               together: bool, profile: bool) -> dict[str, Any]:
    latency = int(re.search(r"latency_ms=(\d+)", faults).group(1)) if "latency_ms=" in faults else 0  # type: ignore[union-attr]
    extra = ",".join(p for p in faults.split(",") if p and not p.startswith("latency_ms="))
    if pg is not None:
        from sqlalchemy import create_engine

        cleaner = create_engine(pg.url)
        with cleaner.begin() as conn:  # every configuration starts from an empty database
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        cleaner.dispose()
    portals = Portals(gen.data, latency, extra)
    try:
        robots = robots_for(cfg, folder, portals.url, pg.url if pg else None)
        t = time.monotonic()
        loaded = subprocess.run(robots[0].command("worklist", "load", str(gen.worklist), "--json"), env=robots[0].env,
                                cwd=REPO, capture_output=True, text=True)
        if loaded.returncode != 0:
            raise SystemExit(f"worklist load failed: {loaded.stderr[-2000:]}")
        load_s = time.monotonic() - t
        print(f"  [{cfg.name}] worklist loaded in {load_s:.1f} s (setup, not a stage)", flush=True)
        stages: dict[str, Stage] = {}
        coder_s, typed = 0.0, 0
        for bot in STAGES:
            if bot == "status_sync":
                t = time.monotonic()
                typed = resolve_rows(folder / "shared" / "exceptions.xlsx")
                coder_s = time.monotonic() - t
                print(f"  [{cfg.name}] coders resolved {typed} rows in the workbook ({coder_s:.1f} s to type and "
                      f"save, not a stage)", flush=True)
            stages[bot] = run_stage(bot, robots, portals, pg, together=together,
                                    profile=folder / f"profile-{bot}.txt" if profile else None)
            f = stages[bot].figures()
            print(f"  [{cfg.name}] {bot}: {f['items']} items in {f['seconds']} s = {f['items_per_s']} items/s; "
                  f"{f['cpu_s_per_item']} CPU s/item (load average before: {f['load_avg_before']})", flush=True)
        checks = check_once(db_url_of(robots), portals)
    finally:
        portals.stop()
    problems = [f"{b}: run {r.summary['status']} ({r.summary.get('message') or 'no message'})"
                for b, st in stages.items() for r in st.runs if r.summary["status"] != "succeeded"]
    expected = {"claim_edits": gen.unsubmitted, "payer_portal": gen.submitted}
    problems += [f"{b}: {checks[b]['items']} items queued, {n} expected" for b, n in expected.items()
                 if checks[b]["items"] != n]
    # An item whose every in-run attempt met a 503 goes back for the next run: the fault policy, not a problem.
    notes = [f"{b}: {st.figures()['left']} item(s) left for the next run" for b, st in stages.items()
             if st.figures()["left"]]
    if checks["items_done_twice"]:
        problems.append(f"{checks['items_done_twice']} items done twice")
    return {"bench": "pipeline", "config": cfg.name, "claims": gen.unsubmitted + gen.submitted,
            "unsubmitted": gen.unsubmitted, "submitted": gen.submitted, "resolutions_typed": typed,
            "database": "postgresql" if pg else "sqlite", "robots": cfg.robots,
            "pinning": [p or "unpinned" for p in cfg.pins], "faults": faults,
            "stages": {b: s.figures() for b, s in stages.items()},
            "end_to_end_s": round(sum(s.seconds for s in stages.values()), 1),
            "peak_pss_mb": max(s.figures()["peak_pss_mb"] for s in stages.values()),
            "bot_peak_rss_mb": max(s.figures()["bot_peak_rss_mb"] for s in stages.values()),
            "worklist_load_s": round(load_s, 1), "coder_typing_s": round(coder_s, 1), "checks": checks,
            "problems": problems, "notes": notes, "load_avg_end": load()}


# ---- output --------------------------------------------------------------------------------------

def machine() -> str:
    cpu = platform.processor()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    version = subprocess.run([sys.executable, "-m", "bots.core.browser"], capture_output=True, text=True,
                             cwd=REPO).stdout.strip().splitlines()
    return (f"{platform.platform()}; {os.cpu_count()} CPUs ({cpu}); Python {platform.python_version()}; "
            f"browser: {version[-1] if version else 'unknown'}")


def print_config(r: dict[str, Any]) -> None:
    print(f"\n== {r['config']}: {r['claims']} claims ({r['unsubmitted']} unsubmitted, {r['submitted']} submitted, "
          f"{r['resolutions_typed']} coder resolutions), {r['database']}, {r['robots']} robot(s) "
          f"{'/'.join(r['pinning'])}, faults {r['faults']}")
    print(f"   {'stage':<13}{'items':>7}{'seconds':>9}{'items/s':>9}{'CPU s/item':>12}{'of it bot':>10}"
          f"{'browser':>9}{'mock':>8}{'postgres':>9}{'peak PSS':>10}{'bot RSS':>9}  load avg before")
    for bot, f in r["stages"].items():
        pg = f"{f['postgres_cpu_s_per_item']:>9.4f}" if "postgres_cpu_s_per_item" in f else f"{'-':>9}"
        print(f"   {bot:<13}{f['items']:>7}{f['seconds']:>9.1f}{f['items_per_s']:>9.2f}{f['cpu_s_per_item']:>12.4f}"
              f"{f['bot_python_cpu_s_per_item']:>10.4f}{f['browser_cpu_s_per_item']:>9.4f}"
              f"{f['mock_cpu_s_per_item']:>8.4f}{pg}{f['peak_pss_mb']:>7} MB{f['bot_peak_rss_mb']:>6} MB  "
              f"{f['load_avg_before']}")
        extra = [f"done {f['done']}, exceptions {f['exceptions']}, failed {f['failed']}, left {f['left']}, "
                 f"retries {f['retries']}, run status {'/'.join(f['statuses'])}"]
        ceiling = f["cpu_ceiling_items_per_s"]
        extra.append(f"robots busy {f['robot_cores_busy']} cores on average; CPU would allow "
                     f"{ceiling['robot_on_1_core']} items/s for a robot on one core, "
                     f"{ceiling['all_processes_on_2_cores']} on 2 cores with mock"
                     f"{' and PostgreSQL' if 'postgres_cpu_s_per_item' in f else ''}")
        if "phases_s" in f:
            ph = f["phases_s"]
            extra.append(f"run start to first item {ph['start_to_first_item']} s, items {ph['items']} s, last item to "
                         f"run end {ph['last_item_to_end']} s")
        if "per_robot_items" in f:
            extra.append(f"items per robot {f['per_robot_items']}, second robot started after "
                         f"{f['second_robot_started_after_s']} s")
        for line in extra:
            print(f"   {'':<13}{line}")
    c = r["checks"]
    print(f"   end to end {r['end_to_end_s']} s ({r['end_to_end_s'] / 60:.1f} min: the three stages; the worklist load "
          f"{r['worklist_load_s']} s and the coders' typing {r['coder_typing_s']} s are not in it); peak PSS "
          f"{r['peak_pss_mb']} MB (bot process tree, Chromium children included), bot process alone peak RSS "
          f"{r['bot_peak_rss_mb']} MB; load average at the end {r['load_avg_end']}")
    print(f"   done twice: {c['items_done_twice']} (claim_edits settled once {c['claim_edits']['settled_once']}"
          f"/{c['claim_edits']['items']}, twice {c['claim_edits']['settled_twice_or_more']}; payer_portal once "
          f"{c['payer_portal']['settled_once']}/{c['payer_portal']['items']}, twice "
          f"{c['payer_portal']['settled_twice_or_more']}, status read twice {c['payer_portal']['status_read_twice']}; "
          f"billing changes {c['status_sync']['billing_changes']}, status_pushed records "
          f"{c['status_sync']['status_pushed_records']}, changes repeated {c['status_sync']['billing_changes_repeated']},"
          f" changes without exactly one record {c['status_sync']['changes_without_one_record']})")
    if r["claims"] >= 10000 and r["robots"] == 1 and r["pinning"] == ["unpinned"]:
        print(f"   goal, 10,000 claims end to end under 30 min with one robot on 2 cores: "
              f"{'met' if r['end_to_end_s'] < 1800 else 'MISSED'} ({r['end_to_end_s'] / 60:.1f} min)")
    for note in r["notes"]:
        print(f"   note: {note}")
    for problem in r["problems"]:
        print(f"   PROBLEM: {problem}")


def print_sizes(results: list[dict[str, Any]]) -> None:
    """Cost per item at each size, side by side: it must not grow with volume."""
    sizes = [r for r in results if r["config"] == results[0]["config"]]
    if len(sizes) < 2:
        return
    print("\n== cost per item by size (CPU s per item of the robot process tree; bot Python in brackets)")
    print(f"   {'stage':<13}" + "".join(f"{r['claims']:>24,}" for r in sizes))
    for bot in STAGES:
        print(f"   {bot:<13}" + "".join(
            f"{r['stages'][bot]['cpu_s_per_item']:>14.4f} ({r['stages'][bot]['bot_python_cpu_s_per_item']:.4f})"
            for r in sizes))
    print(f"   {'items/s':<13}" + "".join(
        f"{' / '.join(str(r['stages'][b]['items_per_s']) for b in STAGES):>24}" for r in sizes))


def speedups(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    by = {r["config"]: r for r in results}
    one = by.get("pg-1robot-core0")
    if one is None:
        return None
    out: dict[str, Any] = {"bench": "pipeline", "claims": one["claims"], "speedup_vs_1_pinned": {}}
    print(f"\n== speed-up over one robot pinned to core 0 ({one['claims']} claims; goal >= 1.8x pinned, every stage)")
    for name in ("pg-2robots-pinned", "pg-2robots-unpinned"):
        if name not in by:
            continue
        ratios = {b: round(one["stages"][b]["seconds"] / by[name]["stages"][b]["seconds"], 2) for b in STAGES}
        ratios["end_to_end"] = round(one["end_to_end_s"] / by[name]["end_to_end_s"], 2)
        items = {b: round(one["stages"][b]["phases_s"]["items"] / by[name]["stages"][b]["phases_s"]["items"], 2)
                 for b in STAGES if "phases_s" in one["stages"][b] and "phases_s" in by[name]["stages"][b]
                 and by[name]["stages"][b]["phases_s"]["items"]}
        out.setdefault("items_phase_speedup", {})[name] = items
        out["speedup_vs_1_pinned"][name] = ratios
        missed = [b for b in STAGES if ratios[b] < 1.8]
        print(f"   {name:<22}" + ", ".join(f"{k} {v}x" for k, v in ratios.items())
              + ("" if name.endswith("unpinned") else f"; goal {'met' if not missed else 'MISSED on ' + ', '.join(missed)}"))
        if items:
            print(f"   {'':<22}first item to last only (start-up and workbook write left out): "
                  + ", ".join(f"{k} {v}x" for k, v in items.items()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", default="1000", help="claims, or several sizes comma-separated (1000,10000)")
    parser.add_argument("--robots", type=int, choices=(1, 2), default=1)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster instead of SQLite")
    parser.add_argument("--faults", default="latency_ms=300,error_rate=0.03", help="the mock portals' fault spec")
    parser.add_argument("--stagger", action="store_true",
                        help="start the second robot of a stage once the first has queued its items "
                             "(default: both at the same moment)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the (first) robot of each stage with py-spy; the top frames are printed")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated files and run folders here")
    args = parser.parse_args()
    if args.robots == 2 and not args.postgres:
        parser.error("two robots share the queue through PostgreSQL: add --postgres")
    sizes = [int(v) for v in args.claims.split(",")]
    if args.robots == 2:
        configs = [Config("pg-1robot-core0", 1, ["0"], True), Config("pg-2robots-pinned", 2, ["0", "1"], True),
                   Config("pg-2robots-unpinned", 2, [None, None], True)]
    else:
        configs = [Config("pg-1robot" if args.postgres else "sqlite-1robot", 1, [None], args.postgres)]
    root = args.keep or Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"load average (1, 5, 15 min) at start: {load()}; mock portals faults: {args.faults}", flush=True)
    pg = PgCluster().start() if args.postgres else None
    results: list[dict[str, Any]] = []
    try:
        for n in sizes:
            gen = generate(n, root / f"claims-{n}")
            for cfg in configs:
                print(f"{cfg.name}, {n} claims: starting (load average {load()})", flush=True)
                r = run_config(cfg, gen, root / f"claims-{n}" / cfg.name, args.faults, pg,
                               together=not args.stagger, profile=args.profile)
                print_config(r)
                if args.profile:
                    r["profile_top"] = print_profiles(root / f"claims-{n}" / cfg.name)
                results.append(r)
    finally:
        if pg is not None:
            pg.stop()
    print_sizes(results)
    summary = speedups(results)
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    print()
    for r in results:
        print(json.dumps(r))
    if summary:
        print(json.dumps(summary))
    return 0 if not any(r["problems"] for r in results) else 1


WAITS = {"select", "wait", "_wait_for_tstate_lock", "acquire", "sleep", "poll", "_worker", "get"}


def _package(frame: str) -> str:
    """Where a py-spy frame ``func (path/to/file.py:12)`` lives: ``bots.core.store``, ``sqlalchemy``, ``json``."""
    m = re.search(r"\((.*?)(?::\d+)?\)$", frame)
    path = m.group(1) if m else frame
    for marker in ("site-packages/", "/work/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    parts = [p for p in path.replace(".py", "").split("/") if p and not p.startswith(("wt-", "main", "."))]
    if parts and parts[0] in ("bots",):
        return ".".join(parts[:3])
    if parts and re.match(r"^\d+$", parts[0].replace(".", "")):  # lib/python3.11/json/decoder
        parts = parts[1:]
    return parts[0] if parts else "?"


def print_profiles(folder: Path) -> dict[str, Any]:
    """py-spy's samples of the robot (threads at work only: py-spy leaves out idle ones), per stage:
    the share of samples by the package of the innermost frame, and the busiest frames."""
    out: dict[str, Any] = {}
    for bot in STAGES:
        path = folder / f"profile-{bot}.txt"
        if not path.exists():
            continue
        own: Counter[str] = Counter()
        packages: Counter[str] = Counter()
        sql: Counter[str] = Counter()
        total = waiting = 0
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():
                continue
            leaf = stack.split(";")[-1]
            if leaf.split(" (", 1)[0].rsplit(".", 1)[-1] in WAITS:  # py-spy's idle guess lets these through
                waiting += int(n)
                continue
            total += int(n)
            own[re.sub(r"\(.*/", "(", leaf)] += int(n)
            packages[_package(leaf)] += int(n)
            if "sqlalchemy/" in leaf or "/store/base.py" in leaf:  # the store: which call of ours waits in it
                ours = [f for f in stack.split(";") if "(bots/" in f or "/bots/" in f]
                sql[re.sub(r"\(.*/", "(", ours[-1]) if ours else "?"] += int(n)
        share = lambda c: [(k, round(100 * v / total, 1)) for k, v in c.most_common(10)] if total else []  # noqa: E731
        out[bot] = {"samples": total, "waiting_samples": waiting, "by_package": share(packages),
                    "top_frames": share(own), "store_by_caller": share(sql)}
        print(f"   profile {bot} ({total} samples at work, {waiting} more waiting in select/locks left out): by package "
              + ", ".join(f"{k} {p}%" for k, p in out[bot]["by_package"][:8]))
        print(f"   {'':<8}busiest frames: " + "; ".join(f"{k} {p}%" for k, p in out[bot]["top_frames"][:6]))
        print(f"   {'':<8}in the store (SQLAlchemy innermost), by our caller: "
              + "; ".join(f"{k} {p}%" for k, p in out[bot]["store_by_caller"][:5]))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
