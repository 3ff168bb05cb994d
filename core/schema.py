"""The catalog's schema versions, managed by Alembic (core/migrations).

``upgrade`` brings a catalog to this code's schema: a new one is made, an older one migrated, one
made before Alembic (no version table) adopted (the migrations add what such a catalog lacks and
skip what it has). A catalog newer than this code is refused: older code would misread it. Processes
that start together take turns: a file lock on SQLite, an advisory lock on PostgreSQL.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key: "askdocs" as a number (any constant works; the same in every process)
_PG_LOCK = 0x61736B646F6373


class CatalogTooNew(RuntimeError):
    """The catalog was migrated by a newer askdocs than this one."""


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    """The schema revision this code expects."""
    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None
    return found


def known() -> set[str | None]:
    """Every schema revision this code can migrate from (None: made before Alembic)."""
    return {s.revision for s in ScriptDirectory.from_config(config()).walk_revisions()} | {None}


def current(conn: Connection) -> str | None:
    """The catalog's schema revision (None: new, or made before Alembic)."""
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    cfg = config()
    rev = current(conn)
    known = {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}
    if rev is not None and rev not in known:
        raise CatalogTooNew(
            f"the catalog is at schema {rev}, made by a newer askdocs than this one (which knows "
            f"up to {head()}): run the newer version, or restore a backup made for this one"
        )
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def upgrade(engine: Engine, url: str) -> None:
    """Bring the catalog at ``engine`` to this code's schema (safe from several processes)."""
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        with open(db.with_name(db.name + ".schema-lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with engine.begin() as conn:
                _upgrade(conn)
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        _upgrade(conn)
