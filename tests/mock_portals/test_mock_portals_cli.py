"""``python -m mock_portals``: prints its URL, serves, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import fcntl
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

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


def _malformed_request(host: str, port: int) -> None:
    """One request uvicorn refuses, logging "Invalid HTTP request received." (41 bytes) to stderr."""
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(b"\x00 not http\r\n\r\n")
        sock.recv(100)


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "mock_portals"], [sys.executable, "-m", "bots.cli", "mock-portals"]],
    ids=["python-m-mock_portals", "bots-mock-portals"],
)
def test_sigint_stops_the_server_with_a_keep_alive_client_and_a_full_stderr_pipe(command: list[str]) -> None:
    """Issue 12 item 10: the parent reads only the URL line, as the tests and CI do.

    uvicorn used to log from its event loop with blocking writes: once the unread stderr pipe was
    full, the loop stopped inside write(), no request was answered, and SIGINT never ended the
    process. Here the pipe is filled well past its capacity, a keep-alive connection stays open,
    and the server must still answer and then exit 0 on SIGINT.
    """
    proc = subprocess.Popen(command + ["--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = proc.stdout.readline().decode().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        host, port = url.removeprefix("http://").split(":")
        capacity = fcntl.fcntl(proc.stderr.fileno(), 1032)  # type: ignore[union-attr]  # F_GETPIPE_SZ
        with httpx.Client(timeout=30) as client:  # one connection, kept alive throughout
            assert client.get(f"{url}/acme/login").status_code == 200
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: _malformed_request(host, int(port)), range(capacity // 41 + 500)))
            assert client.get(f"{url}/beacon/login").status_code == 200, "the server still answers"
            proc.send_signal(signal.SIGINT)
            # Only guards against a hang; a clean stop takes well under a second.
            assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Full: Linux fills a pipe page by page, so the last page may hold less than its 4 KiB.
    assert len(proc.stderr.read()) > capacity - 4096, "the stderr pipe was full while the server ran"  # type: ignore[union-attr]
