"""``python -m mock_portals --port N --data FILE --faults SPEC``.

Prints the base URL on stdout once the server answers, then serves until Ctrl-C or
SIGTERM. ``bots mock-portals`` delegates to :func:`main`.

Whoever starts the server often reads only the URL line and never drains stderr (a test's
``subprocess.PIPE``, a CI step). uvicorn logs from its event loop with blocking writes, so
once ~64 KB of warnings (one per malformed request) filled that pipe, the loop stopped inside
``write()``: no request was answered and SIGINT could not stop it. The server's log lines
therefore go through :class:`_StderrSink`, which never blocks the loop and drops lines while
nobody reads. SIGINT and SIGTERM only set an event, so no ``KeyboardInterrupt`` can land
between printing the URL and the code that stops the server.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from uvicorn.logging import DefaultFormatter

from .faults import parse_faults
from .runtime import load_data
from .server import MockPortals

__all__ = ["main"]


class _StderrSink(logging.Handler):
    """Log lines to stderr from a writer thread; the caller (the event loop) never waits.

    The writer uses ``os.write`` on the descriptor, so a write blocked on a full pipe holds no
    Python lock: the process can still stop and exit. Lines beyond ``backlog`` are dropped
    and counted, and the count is reported once the reader catches up.
    """

    def __init__(self, fd: int = 2, backlog: int = 1000) -> None:
        super().__init__()
        self.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s", use_colors=False))
        self.fd = fd
        self.dropped = 0
        self._queue: queue.Queue[str] = queue.Queue(maxsize=backlog)
        threading.Thread(target=self._write_lines, name="mock-portals-log", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._queue.put_nowait(self.format(record) + "\n")
        except queue.Full:
            self.dropped += 1
        except Exception:  # a bad record must not break a request
            self.handleError(record)

    def _write_lines(self) -> None:
        reported = 0
        while True:
            line = self._queue.get()
            if self.dropped > reported:
                line = f"mock-portals: {self.dropped - reported} log lines dropped (stderr not read)\n" + line
                reported = self.dropped
            data = line.encode("utf-8", "replace")
            try:
                while data:
                    data = data[os.write(self.fd, data):]
            except OSError:  # reader gone (EPIPE) or stderr closed: nothing more to say
                return


def _log_to_stderr_sink() -> None:
    sink = _StderrSink()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [sink] if name != "uvicorn.error" else []
        logger.propagate = name == "uvicorn.error"  # uvicorn.error reaches the sink through "uvicorn"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mock-portals",
        description="Serve the mock payer portals (acme, beacon) and the billing work queue.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    parser.add_argument("--data", type=Path, default=None, help="JSON data file (default: the bundled sample)")
    parser.add_argument(
        "--faults", default="",
        help="fault spec, e.g. latency_ms=300,error_rate=0.1,expire_after=20,layout=v2,"
        "maintenance=beacon,captcha=acme,seed=7",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server in the foreground; returns the process exit code (2 = bad input)."""
    args = _parser().parse_args(argv)
    try:
        faults = parse_faults(args.faults)
        data = load_data(args.data)
    except (ValueError, OSError) as exc:
        print(f"mock-portals: {exc}", file=sys.stderr)
        return 2

    _log_to_stderr_sink()
    portals = MockPortals(data, faults, port=args.port, host=args.host, log_config=None)
    stop = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous: dict[int, Any] = {}
    if in_main_thread:  # signal handlers can only be installed from the main thread
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            portals.start()
        except OSError as exc:
            print(f"mock-portals: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        print(portals.url, flush=True)
        print(
            f"mock-portals: {portals.url}/acme/ {portals.url}/beacon/ {portals.url}/billing/"
            f" (faults: {faults.spec or 'none'}); Ctrl-C stops",
            file=sys.stderr, flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        portals.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
