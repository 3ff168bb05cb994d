"""Chunks carry the boxes of the lines they were made of (JSON, per page, in PDF points), so a
citation can open its page with the passage marked. Documents ingested before keep ``NULL``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("chunks")}
    if "boxes" not in columns:  # ALTER TABLE ADD COLUMN: a batch would copy every chunk
        op.add_column("chunks", sa.Column("boxes", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE chunks DROP COLUMN boxes")  # a batch would copy every chunk
