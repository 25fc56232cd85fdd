"""The ``bots`` command (DESIGN section 3): ``bots = "bots.cli:app"``.

A package so each group of commands has its own module: ``app`` (the root command, its
options and shared helpers), ``run`` (run, list, worklist, edits), ``history`` (runs,
health, audit), ``scheduler``, ``workbook``, ``demo`` (demo, mock-portals), ``config`` (init, config check), ``metrics`` (metrics,
alerts), ``signin`` (refused sign-ins), ``team`` (the roster), ``report`` (the leaders' dashboard). Importing this
package registers every command on ``app``.

Exit codes: 0 success (routed exceptions are a success), 1 the run failed,
2 bad usage or bad input.
"""

from __future__ import annotations

from bots.cli import run, history, scheduler, workbook, demo, config  # noqa: F401,I001 - each registers its commands, in help order
from bots.cli import metrics  # noqa: F401,E402 - registers `bots metrics` and `bots alerts`
from bots.cli import signin  # noqa: F401,E402 - registers `bots signin`
from bots.cli import team  # noqa: F401,E402 - registers `bots team`
from bots.cli import report  # noqa: F401,E402 - registers `bots report`
from bots.cli.app import app

__all__ = ["app"]
