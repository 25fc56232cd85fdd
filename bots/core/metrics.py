"""Prometheus metrics, computed from the store at collection time (``prometheus-client``).

Every number comes from the run history and the exception rows in the store, not from
counters kept in memory, so any process can publish them: the scheduler after each run,
``bots metrics --textfile DIR`` from cron, ``bots metrics --serve PORT`` for a scrape. The
metrics live in their own ``CollectorRegistry`` (not prometheus-client's global one, which
would add this process's Python and GC metrics). Counters stay monotonic because runs are
never deleted.

Labels are ``bot``, ``status``, ``outcome``, ``queue`` and ``site`` (a configured payer id or
``billing``, never read from a claim) only: no claim, patient or member value ever becomes a label
(no PHI in metrics).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from bots.core.lifecycle import RunStatus
from bots.core.settings import Settings
from bots.core.store import Store, utcnow
from bots.core.workbook.layout import QUEUE_SHEETS

__all__ = ["TEXTFILE_NAME", "StoreCollector", "registry_for", "serve", "textfile_path", "write_textfile"]

TEXTFILE_NAME = "rcm_bots.prom"
# Run durations in seconds: a minute-long claim scan up to a multi-hour portal sweep.
DURATION_BUCKETS = (10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, float("inf"))
# Run-table count column → the ``outcome`` label of rcm_bots_items_total.
_OUTCOMES = {"done": "done", "exceptions": "exception", "failed": "failed", "deferred": "deferred",
             "carried_over": "carried_over"}
_NOT_RUNS = (RunStatus.MISSED, RunStatus.SKIPPED, RunStatus.RUNNING)  # rows without a real duration


def _seconds(iso_utc: str) -> float:
    """An ISO timestamp of the store (naive UTC) as Unix seconds."""
    return datetime.fromisoformat(iso_utc).replace(tzinfo=UTC).timestamp()


class StoreCollector(Collector):
    """Reads the store on every ``collect`` (each scrape or textfile write)."""

    def __init__(self, store: Store):
        self.store = store

    def collect(self) -> Iterator[Metric]:
        totals = self.store.run_totals()
        runs = CounterMetricFamily("rcm_bots_runs", "Runs recorded, by bot and final status "
                                   "(missed and skipped: scheduled runs that never started).", labels=["bot", "status"])
        items = CounterMetricFamily("rcm_bots_items", "Items finished by runs, by bot and outcome "
                                    "(carried_over: put back for the next run).", labels=["bot", "outcome"])
        retries = CounterMetricFamily("rcm_bots_retries", "In-run retries of system faults, by bot.", labels=["bot"])
        last_ok = GaugeMetricFamily("rcm_bots_last_success_timestamp_seconds",
                                    "When the bot's last succeeded run ended (Unix time).", labels=["bot"])
        by_bot: dict[str, dict[str, int]] = {}
        for t in totals:
            runs.add_metric([t["bot"], t["status"]], t["runs"])
            sums = by_bot.setdefault(t["bot"], dict.fromkeys((*_OUTCOMES, "retries"), 0))
            for column in sums:
                sums[column] += int(t[column] or 0)
            if t["status"] == RunStatus.SUCCEEDED and t["last_ended"]:
                last_ok.add_metric([t["bot"]], _seconds(t["last_ended"]))
        for bot, sums in sorted(by_bot.items()):
            for column, outcome in _OUTCOMES.items():
                items.add_metric([bot, outcome], sums[column])
            retries.add_metric([bot], sums["retries"])
        yield from (runs, items, retries, last_ok)
        yield self._durations()
        yield from self._queues()
        yield self._signins()

    def _signins(self) -> Metric:
        blocked = GaugeMetricFamily("rcm_bots_signin_blocked", "1 while a site's refused sign-in blocks every "
                                    "further sign-in (`bots signin clear SITE`), 0 once changed or cleared; "
                                    "sites never refused are not listed.", labels=["bot", "site"])
        state: dict[tuple[str, str], int] = {}
        for b in self.store.signin_blocks(active=False):
            key = (b["bot"], b["site"])
            state[key] = max(state.get(key, 0), int(b["cleared_at"] is None))
        for (bot, site), value in sorted(state.items()):
            blocked.add_metric([bot, site], value)
        return blocked

    def _durations(self) -> Metric:
        spans: dict[str, list[float]] = {}
        for r in self.store.run_spans(exclude_statuses=_NOT_RUNS):
            spans.setdefault(r["bot"], []).append(max(0.0, _seconds(r["ended_at"]) - _seconds(r["started_at"])))
        hist = HistogramMetricFamily("rcm_bots_run_duration_seconds", "How long finished runs took, by bot.",
                                     labels=["bot"])
        for bot, values in sorted(spans.items()):
            buckets = [(str(b) if b != float("inf") else "+Inf", sum(1 for v in values if v <= b))
                       for b in DURATION_BUCKETS]
            hist.add_metric([bot], buckets, sum_value=sum(values))
        return hist

    def _queues(self) -> Iterator[Metric]:
        stats = self.store.open_row_stats()
        depth = GaugeMetricFamily("rcm_bots_queue_open_rows", "Open rows per exception workbook sheet (queue).",
                                  labels=["queue"])
        age = GaugeMetricFamily("rcm_bots_queue_oldest_open_row_age_seconds",
                                "Age of the oldest open row per queue (first seen until now); 0 when none is open.",
                                labels=["queue"])
        now = utcnow()
        for queue in [*QUEUE_SHEETS, *sorted(set(stats) - set(QUEUE_SHEETS))]:
            s = stats.get(queue)
            depth.add_metric([queue], s["open"] if s else 0)
            oldest = (now - datetime.fromisoformat(s["oldest_seen"])).total_seconds() if s else 0.0
            age.add_metric([queue], max(0.0, oldest))
        yield depth
        yield age


def registry_for(store: Store) -> CollectorRegistry:
    """A registry of its own holding only the store's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    return registry


def textfile_path(settings: Settings, folder: str | Path) -> Path:
    """``folder/rcm_bots.prom``; a relative folder is under BOTS_HOME."""
    folder = Path(folder)
    return (folder if folder.is_absolute() else settings.home / folder) / TEXTFILE_NAME


def write_textfile(path: Path, store: Store) -> Path:
    """Write the metrics to ``path`` atomically (a temporary file renamed over it), so node_exporter
    never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry_for(store))
    return path


def serve(store: Store, port: int) -> Any:
    """Serve the metrics over HTTP on 127.0.0.1 only (never every interface: the host's firewall is
    not ours to rely on) in a background thread; returns the server (``shutdown()`` to stop,
    ``server_port`` for the port when ``port`` was 0)."""
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry_for(store))
    return server
