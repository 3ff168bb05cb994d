"""Sync runs that hold their deletions: how many a run held back and which, and whether a run
was asked to carry held deletions out.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("source_runs")}
    with op.batch_alter_table("source_runs") as batch:
        if "held" not in columns:
            batch.add_column(sa.Column("held", sa.Integer(), nullable=False, server_default="0"))
        if "held_origins" not in columns:
            batch.add_column(sa.Column("held_origins", sa.Text(), nullable=True))
        if "confirms_run" not in columns:
            batch.add_column(sa.Column("confirms_run", sa.String(36), nullable=True))
        if "confirm_deletions" not in columns:
            batch.add_column(
                sa.Column(
                    "confirm_deletions", sa.Boolean(), nullable=False, server_default=sa.false()
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("source_runs") as batch:
        batch.drop_column("confirm_deletions")
        batch.drop_column("held_origins")
        batch.drop_column("confirms_run")
        batch.drop_column("held")
