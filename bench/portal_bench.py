"""Benchmark: claim status lookups on the mock payer portals, naive script vs the payer_portal bot.

    python bench/portal_bench.py [--claims 500] [--naive-claims 40] [--latencies 0,300] [--keep DIR]

Generates a portal data file with ``--claims`` claims split over acme and beacon (a realistic
mix of statuses: most paid or pending, some denied, rejected or asking for information) and
the matching worklist, serves it with ``python -m mock_portals`` in a separate process at
each added latency, and measures lookups per second for:

(a) a naive baseline, written here: sync Playwright, one page, sequential, a fresh sign-in
    for every claim, the search forms filled and submitted, full page loads (images and
    all), the status read with the same profile selectors. At 300 ms a naive lookup takes
    seconds, so it runs on the first ``--naive-claims`` claims and its rate is extrapolated
    (the output says so);
(b) the bot as configured (config/bots.toml, config/payers/*.toml), through the real runner:
    one browser, signed-in contexts in parallel within each payer's limit, storage-state
    reuse, blocked resources, request-mode fetches, evidence and audit for every lookup
    and the exception workbook written at the end; the rate is claims / run seconds.

For the bot it also prints what a lookup costs: portal requests per lookup (the mock's own
count, sign-ins included), and CPU seconds per lookup of the bot process (every thread: runner,
store, workbook, the browser host's loop) plus its browser children (the Playwright driver and
every Chromium process: browser, GPU, renderers, utilities), read from /proc while the run goes
(every 0.2 s, so a process that ends between two reads loses at most that much), and of the mock
server (its own process, not counted in the bot's). The load average before and after each run is
printed beside the figures: the machine is shared, so compare ratios taken at similar load.

Prints the figures and the machine. The last lines are one JSON object per latency, the
300 ms line last. Goal on the reference 2-core machine (issue 18): the bot at least 25 lookups/s at
300 ms with at most 8 contexts per payer.
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
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyotp
from playwright.sync_api import sync_playwright

from bench_portals import Portals
from bots.core.browser import launch_kwargs
from bots.core.logging import configure_logging
from bots.core.runner import run_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.worklist import COLUMNS, load_worklist
from bots.payer_portal import create_bot
from bots.payer_portal.profile import PayerProfile, load_profiles

REPO = Path(__file__).resolve().parents[1]
SECRET = "JBSWY3DPEHPK3PXPBEACONRB"
PASSWORDS = {"acme": "acme-robot-pass", "beacon": "beacon-robot-pass", "billing": "billing-robot-pass"}

# (acme word, beacon word, share, paid?) — most claims are paid or still pending.
STATUSES = [
    ("Paid", "FINALIZED - PAID", 0.38, True),
    ("In Process", "PENDED", 0.14, False),
    ("Pending Review", "IN REVIEW", 0.08, False),
    ("Accepted", "ACCEPTED", 0.08, False),
    ("Received", "RECEIVED", 0.05, False),
    ("Denied", "DENIED", 0.10, False),
    ("Additional Information Requested", "ADDL INFO REQUESTED", 0.06, False),
    ("Rejected", "REJECTED", 0.04, False),
    ("Finalized - No Payment", "FINALIZED - NO PAY", 0.04, False),
    ("Adjusted", "REVISED", 0.03, True),
]
DENIAL_CODES = ["CO-50", "CO-197", "CO-97", "CO-16", "CO-18", "CO-29", "CO-151", "CO-204"]


@dataclass
class BenchClaim:
    claim_id: str
    payer: str
    member_id: str
    dos: str


def portal_claim(rng: random.Random, i: int, payer: str, claim_id: str, member: str,
                 dos: date) -> tuple[dict[str, Any], float, float]:
    """One submitted claim as the mock payer portal holds it, its status drawn from the payers'
    mix (``STATUSES``); with its billed and expected amounts (the pipeline bench uses it too)."""
    acme_word, beacon_word, _share, paid = rng.choices(STATUSES, [s[2] for s in STATUSES])[0]
    billed = rng.choice([125.0, 185.0, 248.0, 326.0, 417.0, 1150.0])
    expected = round(billed * 0.75, 2)
    paid_amount = (expected if rng.random() > 0.08 else round(expected - 25.0, 2)) if paid else (
        0.0 if acme_word in ("Denied", "Finalized - No Payment") else None)
    carc = (["CO-45"] if paid else [rng.choice(DENIAL_CODES)] if acme_word == "Denied" else
            ["PR-1"] if acme_word == "Finalized - No Payment" else [])
    record = {
        "claim_id": claim_id, "member_id": member, "patient_name": f"PATIENT, BENCH{i}",
        "date_of_service": dos.isoformat(), "billed": billed,
        "status": acme_word if payer == "acme" else beacon_word,
        "status_date": (dos + timedelta(days=20)).isoformat(), "paid": paid_amount,
        "paid_date": (dos + timedelta(days=20)).isoformat() if paid else None,
        "check_number": f"EFT{i:06d}" if paid else "", "payer_claim_number": f"PCN{i:07d}", "carc": carc,
        "remarks": ""}
    return record, billed, expected


def generate(n: int, folder: Path, rng: random.Random) -> tuple[Path, Path, list[BenchClaim]]:
    """The portal data file and the matching worklist for ``n`` claims."""
    today = date.today()
    portal: dict[str, list[dict[str, Any]]] = {"acme": [], "beacon": []}
    rows: list[dict[str, Any]] = []
    claims: list[BenchClaim] = []
    for i in range(n):
        payer = "acme" if i % 2 == 0 else "beacon"
        claim_id = f"CLM-{500000 + i}"
        member = (f"A{700000000 + i}" if payer == "acme" else f"BCN{800000000 + i}")
        dos = today - timedelta(days=rng.randint(45, 120))
        record, billed, expected = portal_claim(rng, i, payer, claim_id, member, dos)
        portal[payer].append(record)
        rows.append({
            "claim_id": claim_id, "payer_id": payer, "member_id": member, "patient_name": f"PATIENT, BENCH{i}",
            "patient_dob": "1970-01-01", "date_of_service": dos.isoformat(), "provider_npi": "1234567893",
            "line_no": 1, "procedure_code": "99213", "modifiers": "", "units": 1, "charge": f"{billed:.2f}",
            "diagnosis_codes": "I10", "diagnosis_pointers": "1", "prior_auth_number": "", "note_id": f"N-{i}",
            "note_signed": "Y", "note_date": dos.isoformat(), "time_minutes": "",
            "submitted_date": (dos + timedelta(days=2)).isoformat(), "expected_amount": f"{expected:.2f}"})
        claims.append(BenchClaim(claim_id, payer, member, dos.isoformat()))
    data_path, worklist = write_bench_files(folder, portal, rows)
    return data_path, worklist, claims


def write_bench_files(folder: Path, portal: dict[str, list[dict[str, Any]]], rows: list[dict[str, Any]],
                      billing: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    """The mock portals' data file (the payers' claims, and the billing queue if given) and the
    worklist CSV, in ``folder``."""
    data: dict[str, Any] = {"payers": {
        "acme": {"users": [{"username": "robot", "password": PASSWORDS["acme"]}], "claims": portal["acme"]},
        "beacon": {"users": [{"username": "robot", "password": PASSWORDS["beacon"], "totp_secret": SECRET}],
                   "claims": portal["beacon"]}}}
    if billing is not None:
        data["billing"] = {"users": [{"username": "robot", "password": PASSWORDS["billing"]}], "queue": billing}
    folder.mkdir(parents=True, exist_ok=True)
    data_path, worklist = folder / "portal_data.json", folder / "worklist.csv"
    data_path.write_text(json.dumps(data))
    with worklist.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return data_path, worklist


def naive(url: str, claims: list[BenchClaim], profiles: dict[str, PayerProfile]) -> float:
    """Lookups per second of the plain script a first attempt would be."""
    totp = pyotp.TOTP(SECRET)
    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_kwargs())
        context = browser.new_context()
        page = context.new_page()
        started = time.monotonic()
        for claim in claims:
            sel = profiles[claim.payer].selectors
            context.clear_cookies()  # a fresh sign-in for every claim
            page.goto(f"{url}/{claim.payer}/login")
            page.fill(sel.login.username, "robot")
            page.fill(sel.login.password, PASSWORDS[claim.payer])
            with page.expect_navigation():
                page.click(sel.login.submit)
            if sel.otp is not None:
                page.fill(sel.otp.code, totp.now())
                with page.expect_navigation():
                    page.click(sel.otp.submit)
            page.goto(f"{url}/{claim.payer}/search")
            if claim.payer == "acme":
                page.fill(sel.search.claim_number or "", claim.claim_id)
                with page.expect_navigation():
                    page.click(sel.search.submit)
            else:
                assert sel.results is not None
                page.fill(sel.search.member_id or "", claim.member_id)
                page.fill(sel.search.dos or "", claim.dos)
                with page.expect_navigation():
                    page.click(sel.search.submit)
                with page.expect_navigation():
                    page.click(sel.results.link)
            status = page.text_content(sel.detail.status)
            assert status, claim.claim_id
        elapsed = time.monotonic() - started
        browser.close()
    return len(claims) / elapsed


def bot(url: str, worklist: Path, folder: Path, n: int) -> tuple[float, dict[str, Any]]:
    """Lookups per second of the payer_portal bot as configured, through the real runner."""
    home, config = folder / "var", folder / "config"
    shutil.copytree(REPO / "config", config)
    for path in (config / "payers").glob("*.toml"):  # the bench must not depend on the day it runs
        path.write_text(re.sub(r"(?ms)^\[\[maintenance\]\]\n.*?(?=^\[)", "", path.read_text()))
    os.environ.update({
        "BOTS_PAYER_ACME_URL": f"{url}/acme", "BOTS_PAYER_ACME_USERNAME": "robot",
        "BOTS_PAYER_ACME_PASSWORD": PASSWORDS["acme"],
        "BOTS_PAYER_BEACON_URL": f"{url}/beacon", "BOTS_PAYER_BEACON_USERNAME": "robot",
        "BOTS_PAYER_BEACON_PASSWORD": PASSWORDS["beacon"], "BOTS_PAYER_BEACON_TOTP_SECRET": SECRET})
    settings = Settings(home=home, config_dir=config, _env_file=None)
    settings.ensure_dirs()
    configure_logging(settings.logs_dir, "INFO", console=False)
    store = Store(settings.db_url)
    try:
        load_worklist(store, worklist)
        result = run_bot(create_bot(settings), settings, store)
    finally:
        store.close()
    counts = result.counts
    finished = counts["done"] + counts["exceptions"]
    if result.status != "succeeded" or finished != n:
        raise SystemExit(f"bot run did not finish every claim: {result.as_dict()}")
    return n / result.seconds, result.as_dict()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, float, str] | None:
    """(parent pid, CPU seconds so far, start time) of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, fields[19]


class CpuMeter:
    """CPU seconds used by this process and its descendants (minus ``exclude`` and theirs) while
    the ``with`` block runs. Children are read from /proc every ``every`` seconds and remembered
    by (pid, start time), so the browser's processes count even after they ended (not the last
    ``every`` seconds of one that ended early). This process's own time is ``getrusage``'s."""

    def __init__(self, exclude: tuple[int, ...] = (), every: float = 0.2):
        self.exclude, self.every = set(exclude), every
        self._seen: dict[tuple[int, str], float] = {}
        self._start: dict[tuple[int, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-meter", daemon=True)
        self.own = self.children = 0.0

    def _sample(self) -> None:
        stats = {pid: st for pid in (int(p) for p in os.listdir("/proc") if p.isdigit())
                 if (st := _proc_stat(pid)) is not None}
        kids: dict[int, list[int]] = {}
        for pid, (ppid, _cpu, _started) in stats.items():
            kids.setdefault(ppid, []).append(pid)
        todo = [pid for pid in kids.get(os.getpid(), []) if pid not in self.exclude]
        while todo:
            pid = todo.pop()
            _ppid, cpu, started = stats[pid]
            self._seen[(pid, started)] = cpu
            todo.extend(kids.get(pid, []))

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    @staticmethod
    def _self_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> CpuMeter:
        self._sample()
        self._start = dict(self._seen)
        self._own0 = self._self_cpu()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.own = self._self_cpu() - self._own0
        self.children = sum(cpu - self._start.get(key, 0.0) for key, cpu in self._seen.items())


def process_cpu(pid: int) -> float:
    """CPU seconds a live process has used so far (0 when it is gone)."""
    st = _proc_stat(pid)
    return st[1] if st else 0.0


def machine() -> str:
    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_kwargs())
        version = browser.version
        browser.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.platform()}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
            f"Chromium {version}; load average {load:.1f} at start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=500)
    parser.add_argument("--naive-claims", type=int, default=40,
                        help="claims the naive baseline looks up (0: skip it)")
    parser.add_argument("--latencies", default="0,300", help="added portal latencies in ms, comma-separated")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated files and run folders here")
    args = parser.parse_args()
    latencies = sorted(int(v) for v in args.latencies.split(","))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="portal-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261127)
    data, worklist, claims = generate(args.claims, folder, rng)
    profiles = load_profiles(REPO / "config" / "payers")
    naive_claims = claims[:min(args.naive_claims, len(claims))]
    print(f"machine: {machine()}")
    naive_note = (f"naive baseline on the first {len(naive_claims)}"
                  + (", its rate extrapolated to all" if len(naive_claims) < len(claims) else "")
                  if naive_claims else "naive baseline skipped")
    print(f"claims: {len(claims)} (acme and beacon alternating); {naive_note}")
    lines = []
    for latency in latencies:
        portals = Portals(data, latency)
        try:
            naive_rate = naive(portals.url, naive_claims, profiles) if naive_claims else float("nan")
            portals.reset()
            load_before, mock_before = os.getloadavg()[0], process_cpu(portals.proc.pid)
            with CpuMeter(exclude=(portals.proc.pid,)) as cpu:
                bot_rate, summary = bot(portals.url, worklist, folder / f"bot-{latency}ms", len(claims))
            mock_cpu, load_after = process_cpu(portals.proc.pid) - mock_before, os.getloadavg()[0]
            requests = portals.stats()["requests"]
        finally:
            portals.stop()
        n = len(claims)
        ratio = bot_rate / naive_rate if naive_claims else float("nan")
        per_lookup = {"bot_process": cpu.own / n, "browser_children": cpu.children / n, "mock_server": mock_cpu / n}
        portal_requests = requests.get("acme", 0) + requests.get("beacon", 0)
        naive_text = (f"naive {naive_rate:.2f} lookups/s ({len(naive_claims)} claims"
                      f"{', extrapolated' if len(naive_claims) < len(claims) else ''}); " if naive_claims else "")
        print(f"latency {latency} ms: {naive_text}bot {bot_rate:.2f} lookups/s "
              f"({n} claims in {summary['seconds']:.1f} s: {summary['done']} status updates, "
              f"{summary['exceptions']} exceptions, {summary['retries']} retries, browser start, sign-ins "
              f"and workbook included){f'; ratio {ratio:.1f}x' if naive_claims else ''}; load average {load_before:.2f} before, "
              f"{load_after:.2f} after")
        print(f"  per lookup: {portal_requests / n:.2f} portal requests (acme {requests.get('acme', 0)}, beacon "
              f"{requests.get('beacon', 0)}, sign-ins included); CPU {(cpu.own + cpu.children) / n * 1000:.1f} ms "
              f"= bot process {per_lookup['bot_process'] * 1000:.1f} + its browser (Playwright driver and "
              f"Chromium) {per_lookup['browser_children'] * 1000:.1f}; mock server "
              f"{per_lookup['mock_server'] * 1000:.1f} ms (not included)")
        lines.append({"bench": "portal", "latency_ms": latency, "claims": n,
                      "naive_per_s": round(naive_rate, 2) if naive_claims else None, "bot_per_s": round(bot_rate, 2),
                      "ratio": round(ratio, 1) if naive_claims else None,
                      "bot_seconds": round(summary["seconds"], 2), "requests_per_lookup": round(portal_requests / n, 3),
                      "cpu_s_per_lookup": round((cpu.own + cpu.children) / n, 4),
                      "cpu_s_per_lookup_bot_process": round(per_lookup["bot_process"], 4),
                      "cpu_s_per_lookup_browser": round(per_lookup["browser_children"], 4),
                      "cpu_s_per_lookup_mock": round(per_lookup["mock_server"], 4),
                      "load_avg_before": round(load_before, 2), "load_avg_after": round(load_after, 2)})
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    for line in lines:
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
