"""The mock portals for a bench: ``python -m mock_portals`` in its own process, so its CPU is neither
the bot's nor the naive script's, with the admin calls the benches use."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


class Portals:
    """``faults``: more of the mock's fault spec beside the latency (``error_rate=0.03``)."""

    def __init__(self, data: Path, latency_ms: int, faults: str = ""):
        spec = ",".join(s for s in (f"latency_ms={latency_ms}", faults) if s)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mock_portals", "--port", "0", "--data", str(data),
             "--faults", spec], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, cwd=REPO)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.stop()
            raise SystemExit(f"mock portals did not start: {self.url!r}")

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/__admin/reset", method="POST"), timeout=10).read()

    def queue(self) -> dict[str, dict[str, Any]]:
        """The billing app's work queue, by claim id (each entry with its change history)."""
        with urllib.request.urlopen(self.url + "/billing/api/queue", timeout=120) as resp:
            return {e["claim_id"]: e for e in json.load(resp)["queue"]}

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/__admin/stats", timeout=10) as resp:
            return json.load(resp)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
