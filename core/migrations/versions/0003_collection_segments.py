"""Collections record the manifest of their vector segments with each index generation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "segments" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("collections")}:
        op.add_column("collections", sa.Column("segments", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collections") as batch:
        batch.drop_column("segments")
