"""Prometheus metrics: the textfile parses and carries what real runs recorded in the store."""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from bots.cli import app
from bots.core.metrics import TEXTFILE_NAME, serve, write_textfile
from bots.core.runner import RunContext, run_bot
from bots.core.settings import Settings
from bots.core.store import RunStatus, Store
from fake_bots import CountingBot


class BrokenSessionBot(CountingBot):
    """Its session fails before any item: the run ends ``failed``."""

    def session(self, run: RunContext) -> Any:
        raise RuntimeError("the portal session could not start")


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def two_runs(settings: Settings, store: Store) -> tuple[dict[str, int], str]:
    """A succeeded run with every kind of outcome, then a failed run; the first run's counts."""
    settings.config.retry.attempts = 2
    settings.config.retry.wait_initial = 0.0
    settings.config.retry.jitter = 0.0
    ok = run_bot(CountingBot(6, fail={2}, business={4}), settings, store, write_workbook=False)
    broken = run_bot(BrokenSessionBot(1), settings, store, write_workbook=False)
    assert ok.status == RunStatus.SUCCEEDED and broken.status == RunStatus.FAILED
    assert ok.counts["done"] == 4 and ok.counts["exceptions"] == 1 and ok.counts["retried"] == 1
    return ok.counts, ok.run_id


def test_textfile_parses_and_carries_the_counts_of_real_runs(settings: Settings, store: Store,
                                                            two_runs: tuple[dict[str, int], str]) -> None:
    counts, run_id = two_runs
    path = write_textfile(settings.home / "textfile" / TEXTFILE_NAME, store)
    samples = _samples(path.read_text())
    assert _value(samples, "rcm_bots_runs_total", bot="claim_edits", status="succeeded") == 1
    assert _value(samples, "rcm_bots_runs_total", bot="claim_edits", status="failed") == 1
    for outcome, key in (("done", "done"), ("exception", "exceptions"), ("failed", "failed"),
                         ("deferred", "deferred"), ("carried_over", "retried")):
        assert _value(samples, "rcm_bots_items_total", bot="claim_edits", outcome=outcome) == counts[key], outcome
    assert _value(samples, "rcm_bots_retries_total", bot="claim_edits") == counts["retries"] == 1
    assert _value(samples, "rcm_bots_run_duration_seconds_count", bot="claim_edits") == 2
    assert _value(samples, "rcm_bots_queue_open_rows", queue="Claim Edits") == 1
    assert _value(samples, "rcm_bots_queue_open_rows", queue="Denials") == 0
    assert _value(samples, "rcm_bots_queue_oldest_open_row_age_seconds", queue="Denials") == 0
    assert _value(samples, "rcm_bots_queue_oldest_open_row_age_seconds", queue="Claim Edits") >= 0
    ended = next(r["ended_at"] for r in store.list_runs("claim_edits") if r["run_id"] == run_id)
    expected = datetime.fromisoformat(ended).replace(tzinfo=UTC).timestamp()
    assert _value(samples, "rcm_bots_last_success_timestamp_seconds", bot="claim_edits") == pytest.approx(expected)
    labels = {k for (_, ls) in samples for k, _ in ls}
    assert labels <= {"bot", "status", "outcome", "queue", "le"}, "labels never carry claim or patient values"
    assert not list(path.parent.glob("*.tmp*")), "written through a temporary file that was renamed"


def test_cli_writes_the_textfile(settings: Settings, store: Store, two_runs: tuple[dict[str, int], str]) -> None:
    out = settings.home / "node_exporter"
    result = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                      "metrics", "--textfile", str(out)])
    assert result.exit_code == 0, result.output
    samples = _samples((out / TEXTFILE_NAME).read_text())
    assert _value(samples, "rcm_bots_runs_total", bot="claim_edits", status="failed") == 1


@contextlib.contextmanager
def _served(store: Store) -> Iterator[int]:
    server = serve(store, 0)
    assert server.server_address[0] == "127.0.0.1", "never on every interface"
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_serve_answers_on_loopback_with_current_numbers(settings: Settings, store: Store,
                                                       two_runs: tuple[dict[str, int], str]) -> None:
    with _served(store) as port:
        assert port
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert _value(_samples(text), "rcm_bots_runs_total", bot="claim_edits", status="succeeded") == 1
        run_bot(CountingBot(6), settings, store, write_workbook=False)  # read at scrape time, not at start
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert _value(_samples(text), "rcm_bots_runs_total", bot="claim_edits", status="succeeded") == 2
