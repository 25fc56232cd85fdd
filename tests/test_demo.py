"""`bots demo` from nothing: mock portals, sample worklist, all three bots, a summary and a workbook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.browser
def test_demo_runs_all_three_bots_and_writes_the_workbook(tmp_path: Path) -> None:
    bots = Path(sys.executable).with_name("bots")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTS_")}
    base = [str(bots), "--home", str(tmp_path / "var"), "--config-dir", str(REPO / "config")]
    proc = subprocess.run([*base, "demo", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])

    runs = {r["bot"]: r for r in summary["runs"]}
    assert list(runs) == ["claim_edits", "payer_portal", "status_sync"]
    assert all(r["status"] == "succeeded" for r in runs.values())
    assert runs["claim_edits"]["items"] == 10, "the ten unsubmitted sample claims are scanned"
    assert runs["payer_portal"]["items"] == 65, "every submitted sample claim is looked up"
    assert runs["payer_portal"]["failed"] == 0
    assert runs["status_sync"]["done"] >= 1 and runs["status_sync"]["failed"] == 0
    assert summary["loaded"]["claims_new"] == 75
    for queue in ("Claim Edits", "Denials", "Documentation Requests", "Payment Variances"):
        assert summary["queues"].get(queue, 0) > 0, queue

    workbook = Path(summary["workbook"])
    wb = load_workbook(workbook, read_only=True)
    try:
        assert wb.sheetnames[0] == "Summary"
        for queue, open_rows in summary["queues"].items():
            rows = list(wb[queue].iter_rows(values_only=True))
            header = rows[0]
            status = header.index("Bot Status")
            assert sum(1 for r in rows[1:] if r and r[status] == "Open") == open_rows, queue
        denial_rows = list(wb["Denials"].iter_rows(values_only=True))
        reason = denial_rows[0].index("Reason")
        assert any("CO-" in (r[reason] or "") for r in denial_rows[1:]), "denials show their CARC codes"
    finally:
        wb.close()
    assert Path(summary["log"]).exists() and any(Path(summary["evidence"]).iterdir())

    verify = subprocess.run([str(bots), "--home", summary["home"], "audit", "verify"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    shutil.rmtree(tmp_path / "var", ignore_errors=True)

