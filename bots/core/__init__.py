"""Shared machinery every bot stands on. No module here imports a bot."""
