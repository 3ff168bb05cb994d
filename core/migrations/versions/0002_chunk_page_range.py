"""Chunks record the last page they reach and where each later page starts in their text.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = (("page_end", sa.Integer()), ("page_marks", sa.Text()))


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("chunks")}
    for name, kind in COLUMNS:
        if name not in have:  # a catalog made between releases may have them already
            op.add_column("chunks", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        for name, _kind in reversed(COLUMNS):
            batch.drop_column(name)
