"""``python -m bots``: the ``bots`` command without the console script (same options, same exit codes)."""

from bots.cli import app

app(prog_name="bots")
