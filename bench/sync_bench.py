"""Benchmark: billing status updates on the mock billing app, naive UI script vs the status_sync bot.

    python bench/sync_bench.py [--updates 200] [--naive-updates 40] [--latencies 0,300] [--ui-mode] [--keep DIR]

Generates a billing work queue with ``--updates`` claims (status Submitted) and one status update
for each (Paid, Denied, Pending, … as payer_portal queues them), serves it with
``python -m mock_portals`` in a separate process at each added latency, and measures verified
updates per second for:

(a) a naive baseline, written here: sync Playwright, one signed-in tab, sequential: open the
    claim's form, choose the status, type the note, press Save, load the form again and check
    status and note. At 300 ms a naive update takes more than a second, so it runs on the first
    ``--naive-updates`` updates and its rate is extrapolated (the output says so);
(b) the bot as configured (config/bots.toml, config/billing.toml), as ``bots run status_sync``
    in its own process: the real runner, one browser, the claim form read and posted at request
    level (hidden fields and anti-forgery token included) in parallel within billing's limits,
    the save mark before every save, every save read back and verified, evidence and audit for
    every update and the exception workbook written at the end. The rate is the updates the run
    pushed and verified / the run's seconds (browser start, sign-in and workbook included).
    ``--ui-mode`` also runs the bot with ``mode = "ui"`` (the form filled in tabs, the path before
    request level), for comparison.

Each side runs as a child process of this script, so its figures are its own: CPU seconds per
update (user + system of the process and every process under it: Python, Playwright's driver,
Chromium) and peak memory (the largest proportional set size of that process tree, sampled every
0.2 s, so a page shared by Chromium's processes counts once). The mock portals' process is not
counted.

Prints the figures and the machine, then one JSON line per configuration (side and latency) and a
final JSON line with the bot/naive ratio per latency. Goal on the reference 2-core machine: the
bot at least 10 verified updates/s at 300 ms. The machine's load average is printed before each
configuration: on a shared machine, read the figures with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_portals import Portals

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "billing-robot-pass"
# (status, share): what payer_portal hands over, mostly paid or pending.
TARGETS = [("Paid", 0.4), ("Pending", 0.2), ("Denied", 0.15), ("Accepted", 0.15), ("Info requested", 0.1)]


def generate(n: int, folder: Path) -> tuple[Path, list[tuple[str, str, str]]]:
    """The mock data file (billing queue only) and the updates: (claim id, status, note)."""
    queue, updates = [], []
    cut = [0.0]
    for _status, share in TARGETS:
        cut.append(cut[-1] + share)
    for i in range(n):
        claim = f"CLM-{700000 + i}"
        position = (i * 0.6180339887) % 1.0  # an even, repeatable mix of the statuses
        status = next(s for (s, _), hi in zip(TARGETS, cut[1:], strict=True) if position < hi)
        queue.append({"claim_id": claim, "payer_id": "acme" if i % 2 == 0 else "beacon", "status": "Submitted",
                      "note": "", "updated_at": "2026-11-01T08:00:00+00:00", "history": []})
        updates.append((claim, status, f"Acme Health Plan portal 2026-11-05: {status} (X12 F1)"))
    data = {"billing": {"users": [{"username": "robot", "password": PASSWORD}], "queue": queue}}
    path = folder / "billing_data.json"
    path.write_text(json.dumps(data))
    return path, updates


# ---- measuring a child process tree ------------------------------------------------------------

def _tree_pss(root: int) -> int:
    """Proportional set size in bytes of ``root`` and every process under it (from /proc): pages
    shared by several of them (Chromium's processes share most of theirs) count once in all."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                parents[int(entry.name)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except OSError:
            continue
    tree = {root}
    changed = True
    while changed:  # descendants: whose parent is already in the tree
        changed = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                total += next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith(b"Pss:"))
        except (OSError, StopIteration):
            continue
    return total


def measured(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """Run ``cmd``; its output, CPU seconds (it and every process under it) and peak tree PSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_pss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])} … exited {proc.returncode}: {err[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), cpu, peak[0]


# ---- (a) the naive script ----------------------------------------------------------------------

def naive_child(url: str, updates_file: Path) -> None:
    """The plain script a first attempt would be (runs in its own process; prints its seconds)."""
    from playwright.sync_api import sync_playwright

    from bots.core.browser import launch_kwargs
    from bots.core.settings import Settings
    from bots.status_sync.config import load_billing_config

    sel = load_billing_config(Settings(config_dir=REPO / "config", _env_file=None)).selectors
    updates = json.loads(updates_file.read_text())
    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_kwargs())
        page = browser.new_context().new_page()
        started = time.monotonic()
        page.goto(f"{url}/billing/login")
        page.fill(sel.login.username, "robot")
        page.fill(sel.login.password, PASSWORD)
        with page.expect_navigation():
            page.click(sel.login.submit)
        for claim, status, note in updates:
            form = f"{url}/billing/claims/{claim}"
            page.goto(form)
            page.select_option(sel.edit.status, label=status)
            page.fill(sel.edit.note, note)
            with page.expect_navigation():
                page.click(sel.edit.save)
            page.goto(form)  # verify on a fresh load, not on the confirmation
            shown = (page.text_content(sel.edit.current_status) or "").strip(), page.input_value(sel.edit.note)
            if shown != (status, note):
                raise SystemExit(f"naive: {claim} shows {shown!r} after the save")
        seconds = time.monotonic() - started
        browser.close()
    print(json.dumps({"seconds": seconds, "updates": len(updates)}))


def naive(url: str, updates: list[tuple[str, str, str]], folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "naive_updates.json"
    path.write_text(json.dumps(updates))
    done, cpu, peak = measured([sys.executable, __file__, "--naive-child", url, str(path)], dict(os.environ))
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return {"seconds": seconds, "cpu_s": cpu, "peak_rss": peak, "updates": len(updates)}


# ---- (b) the bot -------------------------------------------------------------------------------

def bot(url: str, updates: list[tuple[str, str, str]], folder: Path, mode: str | None = None) -> dict[str, Any]:
    """``bots run status_sync`` as configured (``mode`` overrides billing.toml's), on ``updates``
    queued as payer_portal queues them."""
    from bots.core.runner import StatusUpdate
    from bots.core.settings import Settings
    from bots.core.store import Store

    home, config = folder / "var", folder / "config"
    shutil.copytree(REPO / "config", config)
    if mode is not None:
        billing = config / "billing.toml"
        billing.write_text(re.sub(r'(?m)^mode = "\w+"', f'mode = "{mode}"', billing.read_text()))
    settings = Settings(home=home, config_dir=config, _env_file=None)
    settings.ensure_dirs()
    store = Store(settings.db_url)
    try:
        with store.begin() as conn:
            store.apply_intents(conn, [StatusUpdate(claim_id=claim, payer_id="acme", status=status, note=note,
                                                    source_bot="payer_portal", run_id="bench-payer_portal")
                                       for claim, status, note in updates])
    finally:
        store.close()
    env = {**os.environ, "BOTS_HOME": str(home), "BOTS_CONFIG_DIR": str(config), "BOTS_BILLING_URL": f"{url}/billing",
           "BOTS_BILLING_USERNAME": "robot", "BOTS_BILLING_PASSWORD": PASSWORD}
    done, cpu, peak = measured([sys.executable, "-m", "bots", "run", "status_sync", "--json"], env)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    if summary["status"] != "succeeded" or summary["done"] != len(updates):
        raise SystemExit(f"bot run did not push every update: {summary}")
    return {"seconds": summary["seconds"], "cpu_s": cpu, "peak_rss": peak, "updates": len(updates),
            "retries": summary["retries"]}


def verify(portals: Portals, updates: list[tuple[str, str, str]]) -> None:
    """Every update is in billing exactly once (one history row each, the robot's, with the note
    the update carries; the bot's note also cites its source)."""
    queue = portals.queue()
    for claim, status, note in updates:
        history = queue[claim].get("history") or []
        if [(h["status"], h["user"], note in h["note"]) for h in history] != [(status, "robot", True)]:
            raise SystemExit(f"{claim}: billing history {history!r}, wanted one save of {status!r}")


def machine() -> str:
    from playwright.sync_api import sync_playwright

    from bots.core.browser import launch_kwargs

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_kwargs())
        version = browser.version
        browser.close()
    return (f"{platform.platform()}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
            f"Chromium {version}")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def line(side: str, latency: int, figures: dict[str, Any], extrapolated: bool) -> dict[str, Any]:
    n = figures["updates"]
    out = {"bench": "sync", "side": side, "latency_ms": latency, "updates": n,
           "updates_per_s": round(n / figures["seconds"], 2), "seconds": round(figures["seconds"], 1),
           "cpu_s_per_update": round(figures["cpu_s"] / n, 3), "peak_pss_mb": round(figures["peak_rss"] / 2**20),
           "load_avg_at_start": figures["load"]}
    if extrapolated:
        out["extrapolated"] = True
    if "retries" in figures:
        out["retries"] = figures["retries"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--naive-updates", type=int, default=40, help="updates the naive baseline makes")
    parser.add_argument("--latencies", default="0,300", help="added billing latencies in ms, comma-separated")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated files and run folders here")
    parser.add_argument("--ui-mode", action="store_true",
                        help='also run the bot with mode = "ui" (the form filled in tabs, as before request level)')
    parser.add_argument("--naive-child", nargs=2, metavar=("URL", "UPDATES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_child:
        naive_child(args.naive_child[0], Path(args.naive_child[1]))
        return 0
    latencies = sorted(int(v) for v in args.latencies.split(","))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sync-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    data, updates = generate(args.updates, folder)
    naive_updates = updates[:min(args.naive_updates, len(updates))]
    partial = len(naive_updates) < len(updates)
    print(f"machine: {machine()}")
    print(f"updates: {len(updates)} billing status updates; naive baseline on the first {len(naive_updates)}"
          + (", its rate extrapolated to all" if partial else ""))
    lines: list[dict[str, Any]] = []
    uis: list[dict[str, Any]] = []
    for latency in latencies:
        portals = Portals(data, latency)
        try:
            started = load()
            print(f"latency {latency} ms, load average {started} (1, 5, 15 min) before the naive script")
            plain = {**naive(portals.url, naive_updates, folder / f"naive-{latency}ms"), "load": started}
            verify(portals, naive_updates)
            portals.reset()
            started = load()
            print(f"latency {latency} ms, load average {started} before the bot")
            ours = {**bot(portals.url, updates, folder / f"bot-{latency}ms"), "load": started}
            verify(portals, updates)
            saves = portals.stats()["saves_from_tab"]["billing"]
            if args.ui_mode:
                portals.reset()
                started = load()
                print(f"latency {latency} ms, load average {started} before the bot in mode ui")
                in_tabs = {**bot(portals.url, updates, folder / f"bot-ui-{latency}ms", "ui"), "load": started}
                verify(portals, updates)
        finally:
            portals.stop()
        a, b = line("naive", latency, plain, partial), line("bot", latency, ours, False)
        print(f"latency {latency} ms: naive {a['updates_per_s']} updates/s ({a['updates']} updates"
              f"{', extrapolated' if partial else ''}, {a['cpu_s_per_update']} CPU s each, peak {a['peak_pss_mb']} MB); "
              f"bot {b['updates_per_s']} verified updates/s ({b['updates']} in {b['seconds']} s, {b['retries']} retries, "
              f"{saves} saves through a tab, {b['cpu_s_per_update']} CPU s each, peak {b['peak_pss_mb']} MB; "
              f"browser start, sign-in and workbook included)")
        lines += [a, b]
        if args.ui_mode:
            ui = line("bot_ui_mode", latency, in_tabs, False)
            print(f"latency {latency} ms: bot in mode ui {ui['updates_per_s']} verified updates/s ({ui['seconds']} s, "
                  f"{ui['cpu_s_per_update']} CPU s each, peak {ui['peak_pss_mb']} MB)")
            uis.append(ui)
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    for entry in lines + uis:
        print(json.dumps(entry))
    final = {"bench": "sync", "machine": machine(), "updates": len(updates),
             "bot_per_s": {str(e["latency_ms"]): e["updates_per_s"] for e in lines if e["side"] == "bot"},
             "ratio": {str(b["latency_ms"]): round(b["updates_per_s"] / a["updates_per_s"], 1)
                       for a, b in zip(lines[::2], lines[1::2], strict=True)},
             "goal": "bot >= 10 verified updates/s at 300 ms on 2 cores", "load_avg_end": load()}
    if uis:
        final["bot_ui_mode_per_s"] = {str(e["latency_ms"]): e["updates_per_s"] for e in uis}
    print(json.dumps(final))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
