"""``python -m mock_portals``: prints its URL, serves, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from mock_portals.__main__ import main


def test_module_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_portals", "--port", "0", "--faults", "layout=v2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:")
        assert 'id="acme-user"' in httpx.get(f"{url}/acme/login").text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--faults", "bogus=1"], "bogus"), (["--data", "/nonexistent/data.json"], "nonexistent")],
)
def test_bad_input_exits_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bots_mock_portals_command_serves_the_same_portals() -> None:
    """``bots mock-portals`` is the operator's way in; it must serve, not just parse its options."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bots.cli", "mock-portals", "--port", "0", "--faults", "layout=v2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url  # type: ignore[union-attr]
        assert 'id="acme-user"' in httpx.get(f"{url}/acme/login").text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert proc.returncode == 0
