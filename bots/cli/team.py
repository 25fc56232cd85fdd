"""``bots team``: the roster (``config/team.toml``) with each person's open rows and who is away today."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bots.cli.app import app, console, get_settings, open_store, user_errors


@app.command("team")
def team_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The team roster: roles, queues, absences, whether present today, and each person's open rows."""
    from bots.core.team import load_team, local_today, open_counts
    from bots.core.workbook.summary import is_open

    with user_errors():
        settings = get_settings()
        team = load_team(settings)
        if team is None:
            console.print(f"no roster: {settings.config_file('team.toml')} does not exist (rows are not assigned; "
                          "copy team.example.toml to start one)", highlight=False)
            return
        today = local_today(settings)
        counts = open_counts(open_store(settings).exception_rows(), is_open)
    people = [{"name": p.name, "roles": [str(r) for r in p.roles], "queues": p.queues or ["(all)"],
               "absences": [f"{a.start}..{a.end}" for a in p.absences], "present": p.present(today),
               "open_rows": counts.get(p.name, 0)} for p in team.people]
    if json_out:
        print(json.dumps({"today": today.isoformat(), "people": people}))
        return
    table = Table("name", "roles", "queues", "absences", f"today ({today})", "open rows")
    for p in people:
        table.add_row(p["name"], ", ".join(p["roles"]), ", ".join(p["queues"]), ", ".join(p["absences"]),
                      "present" if p["present"] else "away", str(p["open_rows"]))
    console.print(table)
