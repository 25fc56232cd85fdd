"""``python -m mock_portals --port N --data FILE --faults SPEC``.

Prints the base URL on stdout once the server answers, then serves until Ctrl-C or
SIGTERM. ``bots mock-portals`` delegates to :func:`main`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .faults import parse_faults
from .runtime import load_data
from .server import MockPortals

__all__ = ["main"]


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

    portals = MockPortals(data, faults, port=args.port, host=args.host)
    try:
        portals.start()
    except OSError as exc:
        print(f"mock-portals: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:  # signal handlers can only be installed from the main thread
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(portals.url, flush=True)
    print(
        f"mock-portals: {portals.url}/acme/ {portals.url}/beacon/ {portals.url}/billing/"
        f" (faults: {faults.spec or 'none'}); Ctrl-C stops",
        file=sys.stderr, flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        portals.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
