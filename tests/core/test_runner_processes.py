"""Helper processes (``[bots.<bot>] processes``): one run on more than one core.

Real runs through ``run_bot`` on a real SQLite file, with helpers started by ``spawn``: each item is
done exactly once whichever process took it, the counts add up, a helper that dies fails the run
and its items go back to the queue, and claim_edits decides the same with two processes as with one.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from bots.claim_edits import create_bot
from bots.core.runner import run_bot
from bots.core.settings import Settings
from bots.core.store import Store, open_store
from bots.core.worklist import COLUMNS, load_worklist
from fake_bots import HelperProbeBot

REPO = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, name: str, bots_toml_extra: str = "", *, home: str | None = None,
              **claim_edits: object) -> Settings:
    config = tmp_path / f"config-{name}"
    shutil.copytree(REPO / "config", config)
    bots_toml = config / "bots.toml"
    body = bots_toml.read_text()
    for key, value in claim_edits.items():
        body = re.sub(rf"(?ms)(^\[bots\.claim_edits\]\n.*?)^{key} = [^\n]*\n", rf"\g<1>{key} = {value}\n", body, count=1)
    bots_toml.write_text(body + bots_toml_extra)
    settings = Settings(home=tmp_path / f"home-{home or name}", config_dir=config, _env_file=None)
    settings.ensure_dirs()
    return settings


def _probe_settings(tmp_path: Path, name: str, trace: Path, *, items: int = 40, extra: str = "",
                    home: str | None = None, **claim_edits: object) -> Settings:
    """Settings for a HelperProbeBot run: its options (items, trace file, ``extra`` lines) in bots.toml."""
    options = f'\n[bots.claim_edits.options]\nitems = {items}\ntrace = "{trace}"\n{extra}'
    return _settings(tmp_path, name, options, home=home, **claim_edits)


def _trace(path: Path) -> list[tuple[int, str]]:
    """(pid, reference) per traced item; a line still being written is left for the next read."""
    fields = (line.split() for line in path.read_text().splitlines())
    return [(int(f[0]), f[1]) for f in fields if len(f) == 2]


def test_a_helper_process_shares_the_run_and_each_item_is_done_once(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    settings = _probe_settings(tmp_path, "probe", trace, processes=2, batch_size=5)
    store = Store(settings.db_url)
    result = run_bot(HelperProbeBot(settings), settings, store, write_workbook=False)

    assert result.status == "succeeded", result.message
    assert result.counts["items"] == 40 and result.counts["done"] == 40
    done = _trace(trace)
    assert Counter(ref for _, ref in done) == {f"item-{i:03d}": 1 for i in range(40)}  # every item once
    pids = {pid for pid, _ in done}
    assert len(pids) == 2  # the run's own process and its helper both worked
    assert re.search(r"worked by 2 processes \(items: \d+ in the run's own, \d+ in its helper\(s\)\)", result.message)
    with store.read() as conn:
        states = conn.execute(text("SELECT state, attempts, count(*) FROM work_items GROUP BY 1, 2")).all()
        outcomes = conn.execute(text("SELECT count(*), count(DISTINCT item_ref) FROM audit "
                                     "WHERE action = 'item_outcome' AND run_id = :r"), {"r": result.run_id}).one()
    assert [tuple(r) for r in states] == [("done", 1, 40)]
    assert tuple(outcomes) == (40, 40)
    assert store.verify_audit() == []
    store.close()


def test_a_helper_that_dies_fails_the_run_and_its_items_go_back_to_the_queue(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    settings = _probe_settings(tmp_path, "crash", trace, extra="crash_helper = true\n", processes=2, batch_size=5)
    store = Store(settings.db_url)
    result = run_bot(HelperProbeBot(settings), settings, store, write_workbook=False)

    assert result.status == "failed"
    assert "worker process claim_edits-helper-1" in result.message and "exit code 3" in result.message
    crashed_at = [ref for _, ref in _trace(trace) if ref.startswith("crashing-at-")]
    assert len(crashed_at) == 1
    with store.read() as conn:
        left = dict(conn.execute(text("SELECT state, count(*) FROM work_items WHERE state != 'done' GROUP BY 1")).all())
    assert left == {"abandoned": 5}  # the batch the helper held, back in the queue
    store.close()

    # The next run (no helper this time) finishes them; nothing done twice.
    settings = _probe_settings(tmp_path, "rerun", trace, home="crash", processes=1, batch_size=5)
    store = Store(settings.db_url)
    again = run_bot(HelperProbeBot(settings), settings, store, write_workbook=False)
    assert again.status == "succeeded" and again.counts["done"] == 5
    done = Counter(ref for _, ref in _trace(trace) if not ref.startswith("crashing-at-"))
    assert done == {f"item-{i:03d}": 1 for i in range(40)}
    store.close()


def test_a_stop_reaches_the_helpers_and_leaves_no_item_in_hand(tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    settings = _probe_settings(tmp_path, "stop", trace, items=200, extra="delay = 0.02\n", processes=2, batch_size=5)
    store = Store(settings.db_url)
    stop = threading.Event()

    def stop_once_both_work() -> None:
        while len({pid for pid, _ in _trace(trace)} if trace.exists() else ()) < 2:
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=stop_once_both_work, daemon=True).start()
    result = run_bot(HelperProbeBot(settings), settings, store, stop=stop, write_workbook=False)

    assert result.status == "interrupted"
    done = Counter(ref for _, ref in _trace(trace))
    assert set(done.values()) == {1} and len(done) < 200
    with store.read() as conn:
        states = dict(conn.execute(text("SELECT state, count(*) FROM work_items GROUP BY 1")).all())
    assert states == {"done": len(done), "new": 200 - len(done)}  # nothing left in hand, nothing lost
    assert result.counts["done"] == len(done)
    store.close()


def _worklist(path: Path, claims: int) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for n in range(claims):
            codes = ["99214", "36415"] if n % 3 else ["99214", "93000", "93010"]
            for line, code in enumerate(codes, start=1):
                w.writerow({
                    "claim_id": f"CLM-{n:05d}", "payer_id": ("acme", "beacon")[n % 2], "member_id": f"M{n:08d}",
                    "patient_name": "PATIENT, SYNTHETIC", "patient_dob": "1970-01-01",
                    "date_of_service": f"2026-10-{1 + n % 28:02d}", "provider_npi": "1234567893", "line_no": line,
                    "procedure_code": code, "modifiers": "25" if code == "99214" and n % 5 else "", "units": 1,
                    "charge": "120.00", "diagnosis_codes": "E11.9;I10", "diagnosis_pointers": "1;2",
                    "prior_auth_number": "", "note_id": "" if n % 11 == 0 else f"N-{n}", "note_signed": "Y",
                    "note_date": f"2026-10-{1 + n % 28:02d}", "time_minutes": "", "submitted_date": "",
                    "expected_amount": ""})


@pytest.mark.parametrize("processes", [2])
def test_claim_edits_decides_the_same_with_a_helper_process(tmp_path: Path, processes: int) -> None:
    worklist = tmp_path / "wl.csv"
    _worklist(worklist, 240)
    outcomes = {}
    for name, procs in (("one", 1), ("two", processes)):
        settings = _settings(tmp_path, name, processes=procs, batch_size=20)
        store = open_store(settings)  # keyed, as `bots run` opens it: helpers sign their records too
        load_worklist(store, worklist)
        result = run_bot(create_bot(settings), settings, store, write_workbook=False)
        assert result.status == "succeeded", result.message
        with store.read() as conn:
            rows = conn.execute(text("SELECT exception_id, rule_id, bot_status FROM exceptions ORDER BY 1")).all()
            handoffs = conn.execute(text("SELECT reference, digest FROM work_items WHERE bot = 'status_sync' "
                                         "ORDER BY 1")).all()
            items = conn.execute(text("SELECT state, attempts, count(*) FROM work_items WHERE bot = 'claim_edits' "
                                      "GROUP BY 1, 2 ORDER BY 1")).all()
            evaluated = conn.execute(text("SELECT count(*), count(DISTINCT item_ref) FROM audit "
                                          "WHERE action = 'rules_evaluated'")).one()
        assert store.verify_audit() == []
        assert tuple(evaluated) == (240, 240)  # one decision record per claim, none twice
        assert all(attempts == 1 for _state, attempts, _n in items)
        outcomes[name] = ([tuple(r) for r in rows], [r[0] for r in handoffs], [tuple(r) for r in items],
                          {k: v for k, v in result.counts.items() if k != "retries"})
        store.close()
    assert outcomes["one"] == outcomes["two"]
    assert outcomes["one"][0]  # the worklist raises rows: the comparison compares something


def test_a_bot_that_cannot_be_rebuilt_in_a_helper_stays_in_one_process(tmp_path: Path) -> None:
    """A bot under claim_edits' name that is not the registered bot (here a CountingBot with no
    ``process_factory``) must not get helpers built from the registry: they would run the real
    claim_edits over its items. The run works every item in its own process and says nothing of helpers."""
    trace = tmp_path / "trace.txt"
    settings = _probe_settings(tmp_path, "plain", trace, processes=2, batch_size=2)
    store = Store(settings.db_url)
    from fake_bots import CountingBot

    bot = CountingBot(30, trace=str(trace))
    result = run_bot(bot, settings, store, write_workbook=False)
    assert result.ok and result.counts["done"] == 30
    assert "worked by" not in result.message
    assert {pid for pid, _ in _trace(trace)} == {os.getpid()}, "every item was worked in the run's own process"
    assert store.item_counts("claim_edits") == {"done": 30}
