"""``python -m bots.core.browser``: print the browser the bots would use; exit 1 when there is none."""

from bots.core.browser.discovery import main

if __name__ == "__main__":
    raise SystemExit(main())
