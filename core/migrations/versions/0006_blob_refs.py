"""Originals known to the catalog (the ``blobs`` table: writers and the blob sweep agree through
its rows, not a lock over the blob store), filled from the documents that use them; an index on
the documents' origin (a sync's deletions look them up by it). The documents' content column,
which the sweep looks blobs up by, has its index since 0001.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "blobs" not in set(inspector.get_table_names()):
        op.create_table(
            "blobs",
            sa.Column("sha256", sa.String(64), primary_key=True),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("orphaned_at", sa.DateTime(timezone=True), nullable=True),
        )
        op.create_index("ix_blobs_orphaned_at", "blobs", ["orphaned_at"])
    # every original a document uses (rows older than the content column: the id was the hash);
    # the files nobody uses any more are found by the sweep in the blob store itself
    op.execute(
        sa.text(
            "INSERT INTO blobs (sha256, size, created_at, orphaned_at) "
            "SELECT COALESCE(content_sha256, id), MAX(size_bytes), MIN(created_at), NULL "
            "FROM documents "
            "WHERE COALESCE(content_sha256, id) NOT IN (SELECT sha256 FROM blobs) "
            "GROUP BY COALESCE(content_sha256, id)"
        )
    )
    indexes = {i["name"] for i in inspector.get_indexes("documents")}
    if "ix_documents_origin" not in indexes:
        op.create_index("ix_documents_origin", "documents", ["origin"], postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_documents_origin", "documents")
    op.drop_index("ix_blobs_orphaned_at", "blobs")
    op.drop_table("blobs")
