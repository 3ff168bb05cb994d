"""Documents carry the issuer and the reporting period read off them at ingestion (title, file
name, first page), which search matches against the question.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ALTER TABLE ADD COLUMN, never a batch: on SQLite a batch recreates the table, and dropping
    # the old documents table with foreign keys on deletes every chunk (ON DELETE CASCADE)
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
    if "issuer" not in columns:
        op.add_column("documents", sa.Column("issuer", sa.String(256), nullable=True))
    if "period" not in columns:
        op.add_column("documents", sa.Column("period", sa.String(64), nullable=True))
    if "fields_version" not in columns:  # 0: ingested before; the janitor reads them
        op.add_column(
            "documents",
            sa.Column("fields_version", sa.Integer(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch would recreate documents and cascade
    for column in ("fields_version", "period", "issuer"):
        op.execute(f"ALTER TABLE documents DROP COLUMN {column}")
