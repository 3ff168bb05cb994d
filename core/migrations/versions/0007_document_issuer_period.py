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
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
    with op.batch_alter_table("documents") as batch:
        if "issuer" not in columns:
            batch.add_column(sa.Column("issuer", sa.String(256), nullable=True))
        if "period" not in columns:
            batch.add_column(sa.Column("period", sa.String(64), nullable=True))
        if "fields_read" not in columns:  # false: ingested before; the janitor reads them
            batch.add_column(
                sa.Column("fields_read", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("fields_read")
        batch.drop_column("period")
        batch.drop_column("issuer")
