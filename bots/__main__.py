"""``python -m bots``: the ``bots`` command without the console script (same options, same exit codes)."""

from bots.cli import app

if __name__ == "__main__":  # not when a worker process of a run imports this module
    app(prog_name="bots")
