"""The model history: an append-only table of promotions, rollbacks and refusals.

SQLite under FTI_HOME by default; any SQLAlchemy URL (a PostgreSQL database in production)
works unchanged: the table and queries are plain, portable SQL through SQLAlchemy Core.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

ACTIONS = ("promote", "rollback", "refuse")


class ModelHistory:
    """Who changed the champion (or refused a candidate), what, when and why, with the report."""

    def __init__(self, url: str) -> None:
        self.url = url

    @cached_property
    def _table(self):
        import sqlalchemy as sa

        metadata = sa.MetaData()
        table = sa.Table(
            "model_events",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("model_name", sa.String(200), nullable=False, index=True),
            sa.Column("at", sa.String(40), nullable=False),
            sa.Column("action", sa.String(20), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("from_version", sa.Integer, nullable=True),
            sa.Column("actor", sa.String(500), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("report", sa.Text, nullable=False),
            # The content hash of the promotion policy the decision was made under.
            sa.Column("policy_hash", sa.String(64), nullable=True),
        )
        metadata.create_all(self._engine, checkfirst=True)
        # A history written before the policy file existed gains the column; its old events stay NULL.
        if "policy_hash" not in {c["name"] for c in sa.inspect(self._engine).get_columns("model_events")}:
            with self._engine.begin() as connection:
                connection.execute(sa.text("ALTER TABLE model_events ADD COLUMN policy_hash VARCHAR(64)"))
        return table

    @cached_property
    def _engine(self):
        import sqlalchemy as sa

        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            # Concurrent writers wait for each other rather than fail.
            return sa.create_engine(self.url, connect_args={"timeout": 60})
        return sa.create_engine(self.url, pool_pre_ping=True)

    def append(
        self,
        model_name: str,
        action: str,
        version: int,
        at: str,
        actor: str,
        reason: str,
        from_version: int | None = None,
        report: dict[str, Any] | None = None,
        policy_hash: str | None = None,
    ) -> int:
        """Record one event; return its id. Events are never updated or deleted."""
        if action not in ACTIONS:
            raise ValueError(f"unknown history action {action!r}: one of {ACTIONS}")
        row = {
            "model_name": model_name,
            "at": at,
            "action": action,
            "version": int(version),
            "actor": actor,
            "reason": reason,
            "from_version": None if from_version is None else int(from_version),
            "report": json.dumps(report or {}, default=str),
            "policy_hash": policy_hash,
        }
        table = self._table
        with self._engine.begin() as connection:
            return int(connection.execute(table.insert().values(**row)).inserted_primary_key[0])

    def events(self, model_name: str) -> list[dict[str, Any]]:
        """Every event of ``model_name``, oldest first. Errors propagate: never a partial history."""
        import sqlalchemy as sa

        table = self._table
        with self._engine.connect() as connection:
            rows = (
                connection.execute(
                    sa.select(table).where(table.c.model_name == model_name).order_by(table.c.id)
                )
                .mappings()
                .all()
            )
        return [{**row, "report": json.loads(row["report"])} for row in rows]


def champion_stack(events: list[dict[str, Any]]) -> list[int]:
    """The champions in order, the current one last: promotions push, rollbacks pop."""
    stack: list[int] = []
    for event in events:
        if event["action"] == "promote":
            stack.append(event["version"])
        elif event["action"] == "rollback" and stack:
            stack.pop()
    return stack
