"""``bots demo``: the whole flow on the mock portals, from nothing, in about a minute.

Starts the mock portals in a child process (the bots never import
``mock_portals``), points the payer and billing settings at it, loads the
sample worklist, runs every installed bot once in registry order (claim_edits,
payer_portal, status_sync), and prints what happened and where the evidence is. Everything goes to a fresh
``<home>/demo`` folder so a demo never mixes with real runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bots.core import registry
from bots.core.errors import ConfigError
from bots.core.lifecycle import RowState
from bots.core.logging import configure_logging
from bots.core.runner import RunResult, run_bot
from bots.core.settings import Settings
from bots.core.store import open_store
from bots.core.worklist import load_worklist

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    home: Path
    runs: list[RunResult]
    queues: dict[str, int]
    workbook: Path
    log: Path
    evidence: Path
    loaded: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"home": str(self.home), "runs": [r.as_dict() for r in self.runs], "queues": self.queues,
                "workbook": str(self.workbook), "log": str(self.log), "evidence": str(self.evidence),
                "loaded": self.loaded, "seconds": round(self.seconds, 1)}


def _sample_dir() -> Path:
    spec = importlib.util.find_spec("mock_portals")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise ConfigError("the mock_portals package is not installed; run `make demo` from the repository")
    return Path(spec.origin).parent / "data"


class _Portals:
    """The mock portals as a child process on a free port."""

    def __init__(self, data: Path, faults: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mock_portals", "--port", "0", "--data", str(data), "--faults", faults],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http"):
            self.stop()
            raise ConfigError(f"the mock portals did not start (exit code {self.proc.poll()})")
        self.url = line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _point_at(url: str, data: dict[str, Any]) -> None:
    """Credentials come from the environment, as in production; here from the mock data."""
    for payer, spec in data["payers"].items():
        user = spec["users"][0]
        prefix = f"BOTS_PAYER_{payer.upper()}_"
        os.environ[prefix + "URL"] = f"{url}/{payer}"
        os.environ[prefix + "USERNAME"] = user["username"]
        os.environ[prefix + "PASSWORD"] = user["password"]
        if user.get("totp_secret"):
            os.environ[prefix + "TOTP_SECRET"] = user["totp_secret"]
    billing = data["billing"]["users"][0]
    os.environ["BOTS_BILLING_URL"] = f"{url}/billing"
    os.environ["BOTS_BILLING_USERNAME"] = billing["username"]
    os.environ["BOTS_BILLING_PASSWORD"] = billing["password"]


def run_demo(settings: Settings, *, faults: str = "error_rate=0.03,seed=7", progress: Any = None) -> DemoResult:
    started = time.monotonic()
    home = settings.home / "demo"
    if home.exists():
        shutil.rmtree(home)
    demo = Settings(home=home, config_dir=settings.config_dir, database_url=None,
                    browser_path=settings.browser_path, log_level=settings.log_level)
    demo.ensure_dirs()
    configure_logging(demo.logs_dir, demo.log_level)
    sample = _sample_dir()
    data = json.loads((sample / "sample.json").read_text())
    portals = _Portals(sample / "sample.json", faults)
    try:
        _point_at(portals.url, data)
        store = open_store(demo)
        loaded = load_worklist(store, sample / "sample_worklist.csv", known_payers=demo.payers.known_ids()).as_dict()
        results = []
        for name in registry.names():
            bot = registry.create(name, demo)
            if progress:
                progress(name)
            results.append(run_bot(bot, demo, store, trigger="demo"))
        queues = store.exception_counts("queue", bot_status=RowState.OPEN)
        store.close()
    finally:
        portals.stop()
    return DemoResult(home=home, runs=results, queues=queues, workbook=demo.workbook_path,
                      log=demo.logs_dir / "bots.jsonl", evidence=demo.evidence_dir, loaded=loaded,
                      seconds=time.monotonic() - started)
