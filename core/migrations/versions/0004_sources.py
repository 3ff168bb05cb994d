"""Sources: folders, websites and git repositories a collection syncs from; documents remember
their source and origin.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    columns = {c["name"] for c in inspector.get_columns("documents")}
    if "source_id" not in columns:
        op.add_column("documents", sa.Column("source_id", sa.String(36), nullable=True))
        op.create_index("ix_documents_source_id", "documents", ["source_id"])
    if "origin" not in columns:
        op.add_column("documents", sa.Column("origin", sa.Text(), nullable=True))
    if "sources" not in tables:
        op.create_table(
            "sources",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column(
                "collection_id", sa.String(64), sa.ForeignKey("collections.id"), nullable=False
            ),
            sa.Column("name", sa.String(128), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("config", sa.Text(), nullable=False),
            sa.Column("secret", sa.LargeBinary(), nullable=True),
            sa.Column("interval_seconds", sa.Integer(), nullable=True),
            sa.Column("cron", sa.String(128), nullable=True),
            sa.Column("enabled", sa.Boolean(), nullable=False),
            sa.Column("owner_id", sa.String(64), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("lease_owner", sa.String(64), nullable=True),
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("state", sa.Text(), nullable=True),
        )
        op.create_index("ix_sources_collection_id", "sources", ["collection_id"])
        op.create_index("ix_sources_next_run_at", "sources", ["next_run_at"])
    if "source_runs" not in tables:
        op.create_table(
            "source_runs",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column(
                "source_id",
                sa.String(36),
                sa.ForeignKey("sources.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("trigger", sa.String(16), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("job_id", sa.String(36), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            *(
                sa.Column(n, sa.Integer(), nullable=False)
                for n in (
                    "listed",
                    "new",
                    "changed",
                    "unchanged",
                    "renamed",
                    "deleted",
                    "failed",
                    "skipped",
                )
            ),
            sa.Column("failures", sa.Text(), nullable=True),
            sa.Column("message", sa.Text(), nullable=True),
        )
        op.create_index("ix_source_runs_source_id", "source_runs", ["source_id"])
    if "source_items" not in tables:
        op.create_table(
            "source_items",
            sa.Column(
                "source_id",
                sa.String(36),
                sa.ForeignKey("sources.id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("origin", sa.Text(), nullable=False),
            sa.Column("fingerprint", sa.String(512), nullable=True),
            sa.Column("content_sha256", sa.String(64), nullable=True),
            sa.Column("document_id", sa.String(64), nullable=True),
            sa.Column("owns", sa.Boolean(), nullable=False),
            sa.Column("meta", sa.Text(), nullable=True),
            sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_source_items_document_id", "source_items", ["document_id"])


def downgrade() -> None:
    op.drop_table("source_items")
    op.drop_table("source_runs")
    op.drop_table("sources")
    with op.batch_alter_table("documents") as batch:
        batch.drop_index("ix_documents_source_id")
        batch.drop_column("origin")
        batch.drop_column("source_id")
