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

Prints the figures and the machine. The last lines are one JSON object per latency, the
300 ms line last. Goal on the reference 2-core machine: the bot at least 10 lookups/s at 300 ms.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import shutil
import tempfile
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
PASSWORDS = {"acme": "acme-robot-pass", "beacon": "beacon-robot-pass"}

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


def generate(n: int, folder: Path, rng: random.Random) -> tuple[Path, Path, list[BenchClaim]]:
    """The portal data file and the matching worklist for ``n`` claims."""
    today = date.today()
    portal: dict[str, list[dict[str, Any]]] = {"acme": [], "beacon": []}
    rows: list[dict[str, Any]] = []
    claims: list[BenchClaim] = []
    words = [s for s in STATUSES]
    weights = [s[2] for s in STATUSES]
    for i in range(n):
        payer = "acme" if i % 2 == 0 else "beacon"
        claim_id = f"CLM-{500000 + i}"
        member = (f"A{700000000 + i}" if payer == "acme" else f"BCN{800000000 + i}")
        dos = today - timedelta(days=rng.randint(45, 120))
        acme_word, beacon_word, _share, paid = rng.choices(words, weights)[0]
        billed = round(rng.choice([125.0, 185.0, 248.0, 326.0, 417.0, 1150.0]), 2)
        expected = round(billed * 0.75, 2)
        paid_amount = (expected if rng.random() > 0.08 else round(expected - 25.0, 2)) if paid else (
            0.0 if acme_word in ("Denied", "Finalized - No Payment") else None)
        carc = (["CO-45"] if paid else [rng.choice(DENIAL_CODES)] if acme_word == "Denied" else
                ["PR-1"] if acme_word == "Finalized - No Payment" else [])
        portal[payer].append({
            "claim_id": claim_id, "member_id": member, "patient_name": f"PATIENT, BENCH{i}",
            "date_of_service": dos.isoformat(), "billed": billed,
            "status": acme_word if payer == "acme" else beacon_word,
            "status_date": (dos + timedelta(days=20)).isoformat(), "paid": paid_amount,
            "paid_date": (dos + timedelta(days=20)).isoformat() if paid else None,
            "check_number": f"EFT{i:06d}" if paid else "", "payer_claim_number": f"PCN{i:07d}", "carc": carc,
            "remarks": ""})
        rows.append({
            "claim_id": claim_id, "payer_id": payer, "member_id": member, "patient_name": f"PATIENT, BENCH{i}",
            "patient_dob": "1970-01-01", "date_of_service": dos.isoformat(), "provider_npi": "1234567893",
            "line_no": 1, "procedure_code": "99213", "modifiers": "", "units": 1, "charge": f"{billed:.2f}",
            "diagnosis_codes": "I10", "diagnosis_pointers": "1", "prior_auth_number": "", "note_id": f"N-{i}",
            "note_signed": "Y", "note_date": dos.isoformat(), "time_minutes": "",
            "submitted_date": (dos + timedelta(days=2)).isoformat(), "expected_amount": f"{expected:.2f}"})
        claims.append(BenchClaim(claim_id, payer, member, dos.isoformat()))
    data = {"payers": {
        "acme": {"users": [{"username": "robot", "password": PASSWORDS["acme"]}], "claims": portal["acme"]},
        "beacon": {"users": [{"username": "robot", "password": PASSWORDS["beacon"], "totp_secret": SECRET}],
                   "claims": portal["beacon"]}}}
    data_path, worklist = folder / "portal_data.json", folder / "worklist.csv"
    data_path.write_text(json.dumps(data))
    with worklist.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return data_path, worklist, claims


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
    parser.add_argument("--naive-claims", type=int, default=40, help="claims the naive baseline looks up")
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
    print(f"claims: {len(claims)} (acme and beacon alternating); naive baseline on the first "
          f"{len(naive_claims)}" + (", its rate extrapolated to all" if len(naive_claims) < len(claims) else ""))
    lines = []
    for latency in latencies:
        portals = Portals(data, latency)
        try:
            naive_rate = naive(portals.url, naive_claims, profiles)
            portals.reset()
            bot_rate, summary = bot(portals.url, worklist, folder / f"bot-{latency}ms", len(claims))
        finally:
            portals.stop()
        ratio = bot_rate / naive_rate
        print(f"latency {latency} ms: naive {naive_rate:.2f} lookups/s ({len(naive_claims)} claims"
              f"{', extrapolated' if len(naive_claims) < len(claims) else ''}); bot {bot_rate:.2f} lookups/s "
              f"({len(claims)} claims in {summary['seconds']:.1f} s: {summary['done']} status updates, "
              f"{summary['exceptions']} exceptions, {summary['retries']} retries, browser start, sign-ins "
              f"and workbook included); ratio {ratio:.1f}x")
        lines.append({"bench": "portal", "latency_ms": latency, "claims": len(claims),
                      "naive_per_s": round(naive_rate, 2), "bot_per_s": round(bot_rate, 2), "ratio": round(ratio, 1)})
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    for line in lines:
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
