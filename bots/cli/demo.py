"""``bots demo`` and ``bots mock-portals``: the whole flow on the mock portals, and the portals alone.

The mock portals are a separate package that the bots never import; only the launcher
here touches it, by name.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from bots.cli.app import app, console, get_settings, user_errors
from bots.core.errors import ConfigError

# What the mock portals' web server needs: the [mock] extra, not part of a runtime install.
_MOCK_MODULES = ("starlette", "jinja2", "uvicorn", "multipart")


def _require_mock_extra() -> None:
    missing = [m for m in _MOCK_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"the mock portals need the [mock] extra (missing: {', '.join(missing)}): "
                          "pip install 'rcm-bots[mock]' (in a checkout, `make demo` installs it)")


@app.command()
def demo(
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    faults: Annotated[str, typer.Option(help="Mock portal faults for the demo.")] = "error_rate=0.03,seed=7",
) -> None:
    """Start the mock portals, load the sample worklist, run every installed bot once, print a summary."""
    from bots.core import registry
    from bots.demo import run_demo

    with user_errors():
        _require_mock_extra()
        settings = get_settings()
        if not json_out:
            console.print(f"starting the mock portals and running {', '.join(registry.names())} …", highlight=False)
        result = run_demo(settings, faults=faults,
                          progress=None if json_out else (lambda name: console.print(f"  running {name}")))
    if json_out:
        print(json.dumps(result.as_dict()))
    else:
        loaded = result.loaded
        console.print(f"worklist: {loaded['rows']} rows, {loaded['claims_new']} claims loaded, "
                      f"{loaded['claims_rejected']} held back for bad rows", highlight=False)
        table = Table("bot", "status", "items", "done", "exc", "failed", "defer", "retries", "secs",
                      title="rcm-bots demo")
        for r in result.runs:
            c = r.counts
            table.add_row(r.bot, r.status, str(c["items"]), str(c["done"]), str(c["exceptions"]), str(c["failed"]),
                          str(c["deferred"]), str(c["retries"]), f"{r.seconds:.1f}")
        console.print(table)
        queues = Table("queue", "open rows", title="exception workbook")
        for queue, n in sorted(result.queues.items()):
            queues.add_row(queue, str(n))
        console.print(queues)
        console.print(f"workbook:  {result.workbook}", highlight=False)
        console.print(f"log:       {result.log}", highlight=False)
        console.print(f"evidence:  {result.evidence}", highlight=False)
        console.print(f"explore:   bots --home {result.home} runs | audit verify | workbook status", highlight=False)
        console.print(f"total time {result.seconds:.1f}s", highlight=False)
    raise typer.Exit(0 if all(r.ok for r in result.runs) else 1)


@app.command("mock-portals")
def mock_portals_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = a free one).")] = 8700,
    data: Annotated[Optional[Path], typer.Option(help="JSON data file (default: the bundled sample).")] = None,
    faults: Annotated[str, typer.Option(help="e.g. latency_ms=300,error_rate=0.1,seed=7")] = "",
) -> None:
    """Serve the mock payer portals and billing app (for tests and demos)."""
    # The mock portals are a separate package; only this launcher touches it.
    with user_errors():
        _require_mock_extra()
    mp_main = importlib.import_module("mock_portals.__main__").main
    argv = ["--port", str(port), "--faults", faults] + (["--data", str(data)] if data else [])
    raise typer.Exit(mp_main(argv) or 0)
