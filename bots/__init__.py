"""rcm-bots: scheduled revenue-cycle bots that keep their audit evidence."""

__version__ = "0.1.0"
