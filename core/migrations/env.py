"""Alembic's environment for the catalog: migrations run on the connection ``core.schema`` hands
over (in its transaction, under its lock), never on a URL of their own."""

from __future__ import annotations

from alembic import context

from core.catalog import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them: batch mode does it
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
