"""``python -m bots.cli``: the ``bots`` command without the console script."""

from bots.cli import app

app()
