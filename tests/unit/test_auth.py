"""Keys, roles and the first admin, on a real SQLite catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.auth import (
    AuthError,
    Role,
    add_user,
    bootstrap_admin,
    create_key,
    readable,
    revoke_key,
    role_in,
    set_member,
    verify_key,
)
from core.catalog import ApiKey, Catalog, User

pytestmark = pytest.mark.unit


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()


def test_key_is_shown_once_and_stored_hashed(catalog: Catalog) -> None:
    with catalog.session() as s:
        add_user(s, "alice")
        key = create_key(s, "alice", label="laptop")
    with catalog.session() as s:
        (row,) = s.query(ApiKey).all()
        assert key.startswith(f"askd_{row.id}_")
        assert key.split("_", 2)[2] not in (row.secret_sha256, row.label)
        who = verify_key(s, key)
        assert who is not None and who.user == "alice" and not who.admin
        assert verify_key(s, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        assert verify_key(s, "askd_" + row.id) is None
        assert verify_key(s, "Bearer nonsense") is None
        revoke_key(s, row.id)
    with catalog.session() as s:
        assert verify_key(s, key) is None


def test_roles_and_what_each_user_can_see(catalog: Catalog) -> None:
    with catalog.session() as s:
        add_user(s, "root", admin=True)
        for name in ("alice", "bob", "carol"):
            add_user(s, name)
        catalog.ensure_collection(s, "alice-notes", owner="alice")
        catalog.ensure_collection(s, "bob-notes", owner="bob")
        set_member(s, "alice-notes", "bob", "read")
    with catalog.session() as s:
        key = {n: verify_key(s, create_key(s, n)) for n in ("root", "alice", "bob", "carol")}
    with catalog.session() as s:
        assert role_in(s, key["alice"], "alice-notes") == Role.owner
        assert role_in(s, key["bob"], "alice-notes") == Role.read
        assert role_in(s, key["carol"], "alice-notes") is None
        assert role_in(s, key["alice"], "bob-notes") is None
        assert role_in(s, key["root"], "bob-notes") == Role.owner
        assert role_in(s, key["carol"], "no-such") is None
        assert readable(s, key["bob"]) == {"alice-notes", "bob-notes"}
        assert readable(s, key["carol"]) == set()
        assert readable(s, key["root"]) is None  # all
        set_member(s, "alice-notes", "bob", "write")
    with catalog.session() as s:
        assert role_in(s, key["bob"], "alice-notes") == Role.write
        set_member(s, "alice-notes", "bob", None)
    with catalog.session() as s:
        assert role_in(s, key["bob"], "alice-notes") is None
        with pytest.raises(AuthError, match="owns"):
            set_member(s, "alice-notes", "alice", "read")
        with pytest.raises(AuthError, match="read or write"):
            set_member(s, "alice-notes", "carol", "admin")
        with pytest.raises(AuthError, match="no user"):
            set_member(s, "alice-notes", "mallory", "read")


def test_bad_user_names_are_refused(catalog: Catalog) -> None:
    with catalog.session() as s:
        for bad in ("", "../x", "a b", "x" * 65, "é"):
            with pytest.raises(AuthError):
                add_user(s, bad)
        add_user(s, "ok.name@example-1")
        with pytest.raises(AuthError, match="exists"):
            add_user(s, "ok.name@example-1")


def test_first_admin_only_once(catalog: Catalog) -> None:
    key = bootstrap_admin(catalog)
    assert key is not None and key.startswith("askd_")
    assert bootstrap_admin(catalog) is None
    with catalog.session() as s:
        who = verify_key(s, key)
        assert who is not None and who.admin and who.user == "admin"
        assert role_in(s, who, "default") == Role.owner


def test_older_catalog_gains_new_columns(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE collections (id VARCHAR(64) PRIMARY KEY, created_at DATETIME, "
        "embedding_model VARCHAR(512), embedding_dim INTEGER, index_generation INTEGER)"
    )
    con.execute("INSERT INTO collections (id, index_generation) VALUES ('old', 3)")
    con.commit()
    con.close()
    catalog = Catalog(f"sqlite:///{db}").create()
    with catalog.session() as s:
        coll = catalog.ensure_collection(s, "old")
        assert coll.index_generation == 3 and coll.owner_id is None


def test_a_first_admin_made_by_another_process_meanwhile_is_not_an_error(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API processes starting at once on a new catalog: one finds no user, then finds the admin
    the other just committed (PostgreSQL's READ COMMITTED sees it mid-transaction); it starts
    anyway, without a key of its own."""
    from core import auth

    made = bootstrap_admin(catalog)
    assert made is not None
    real_select = auth.select

    def no_user_seen(*columns: object) -> object:  # the check ran before the other's commit
        return real_select(User.id).where(User.id == "")

    monkeypatch.setattr(auth, "select", no_user_seen)
    assert bootstrap_admin(catalog) is None  # saw "no users", then add_user found "admin"
    monkeypatch.undo()
    with catalog.session() as s:
        assert s.scalar(select(func.count(ApiKey.id))) == 1
