"""Test set-up the bots never do themselves (back-date a claim, force an item's state, tamper with a
record), written as raw SQL against the store's database: tests read the store only through its
named methods, and import no table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from bots.core.store import Store


def set_columns(store: Store, table: str, where: dict[str, Any], **values: Any) -> int:
    """``UPDATE table SET values WHERE where`` (equality on each column); returns rows changed."""
    sets = ", ".join(f"{k} = :v_{k}" for k in values)
    conds = " AND ".join(f"{k} = :w_{k}" for k in where) or "1 = 1"
    params = {**{f"v_{k}": v for k, v in values.items()}, **{f"w_{k}": v for k, v in where.items()}}
    with store.begin() as conn:
        return conn.execute(text(f"UPDATE {table} SET {sets} WHERE {conds}"), params).rowcount


def insert_row(store: Store, table: str, **values: Any) -> None:
    """``INSERT INTO table (values' columns) VALUES (values)``."""
    cols = ", ".join(values)
    with store.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + k for k in values)})"), values)
