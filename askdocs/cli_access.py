"""`askdocs user|key|member`: access administration, run on the server against the catalog itself
(whoever can run these can read the data directory anyway)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from core.auth import AuthError, add_user, audit, create_key, revoke_key, set_member
from core.catalog import ApiKey, Catalog, User
from core.settings import Settings

console = Console()

user_app = typer.Typer(help="Users (run on the server: works on the catalog directly).")
key_app = typer.Typer(help="API keys (run on the server: works on the catalog directly).")
member_app = typer.Typer(help="Who may read or write a collection besides its owner.")


def register(app: typer.Typer) -> None:
    """Add the user, key and member command groups to the main CLI."""
    app.add_typer(user_app, name="user")
    app.add_typer(key_app, name="key")
    app.add_typer(member_app, name="member")


def _operator() -> str:
    """Who ran the command, for the audit log: the operating-system user on the server."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


def _catalog_session():  # type: ignore[no-untyped-def]
    return Catalog(Settings().catalog_url).create().session()


def _auth_call(fn, *args: object) -> object:  # type: ignore[no-untyped-def]
    try:
        with _catalog_session() as s:
            return fn(s, *args)
    except AuthError as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None


@user_app.command("add")
def user_add(
    name: str, admin: bool = typer.Option(False, "--admin", help="May see every collection.")
) -> None:
    """Add a user (then give them a key: `askdocs key create NAME`)."""

    def run(s, name: str) -> None:  # type: ignore[no-untyped-def]
        add_user(s, name, admin)
        audit(s, _operator(), "user_created", detail={"user": name, "admin": admin})

    _auth_call(run, name)
    console.print(f"user {name} added" + (" (admin)" if admin else ""))


@user_app.command("list")
def user_list() -> None:
    """Users, whether they are admins, and how many live keys each has."""

    with _catalog_session() as s:
        rows = s.execute(
            select(User.id, User.admin, func.count(ApiKey.id))
            .outerjoin(ApiKey, (ApiKey.user_id == User.id) & ApiKey.revoked_at.is_(None))
            .group_by(User.id, User.admin)
            .order_by(User.id)
        ).all()
    table = Table("user", "admin", "keys")
    for name, is_admin, keys in rows:
        table.add_row(name, "yes" if is_admin else "", str(keys))
    console.print(table)


@key_app.command("create")
def key_create(
    user: str, label: str = typer.Option(None, help="What the key is for, shown in key list.")
) -> None:
    """Make a key for USER and print it once; only its hash is kept."""

    def run(s, user: str) -> str:  # type: ignore[no-untyped-def]
        key = create_key(s, user, label)
        audit(s, _operator(), "key_created", detail={"user": user, "key_id": key.split("_")[1]})
        return key

    key = _auth_call(run, user)
    print(key)  # plain, alone on its line: scripts read it
    console.print("[dim]shown once: store it now. Revoke with `askdocs key revoke ID`.[/dim]")


@key_app.command("list")
def key_list(user: str = typer.Option(None, help="Only this user's keys.")) -> None:
    """Key ids (never the keys), owners, labels, last use."""

    with _catalog_session() as s:
        q = select(ApiKey).order_by(ApiKey.user_id, ApiKey.created_at)
        if user:
            q = q.where(ApiKey.user_id == user)
        keys = list(s.scalars(q))
    table = Table("id", "user", "label", "created", "last used", "revoked")
    for k in keys:
        table.add_row(
            k.id,
            k.user_id,
            k.label or "",
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
        )
    console.print(table)


@key_app.command("revoke")
def key_revoke(key_id: str) -> None:
    """Revoke a key by its id (the 12 hex digits after askd_); it stops working at once."""

    def run(s, key_id: str) -> None:  # type: ignore[no-untyped-def]
        revoke_key(s, key_id)
        audit(s, _operator(), "key_revoked", detail={"key_id": key_id})

    _auth_call(run, key_id)
    console.print(f"key {key_id} revoked")


@member_app.command("set")
def member_set(
    collection: str,
    user: str,
    role: str = typer.Argument(..., help="read or write"),
) -> None:
    """Let USER read (search, ask) or write (upload, delete) COLLECTION."""

    def run(s, collection: str) -> None:  # type: ignore[no-untyped-def]
        set_member(s, collection, user, role)
        audit(s, _operator(), "member_set", collection, detail={"user": user, "role": role})

    _auth_call(run, collection)
    console.print(f"{user} may now {role} {collection}")


@member_app.command("remove")
def member_remove(collection: str, user: str) -> None:
    """Take USER's access to COLLECTION away (the owner keeps theirs)."""

    def run(s, collection: str) -> None:  # type: ignore[no-untyped-def]
        set_member(s, collection, user, None)
        audit(s, _operator(), "member_removed", collection, detail={"user": user})

    _auth_call(run, collection)
    console.print(f"{user} removed from {collection}")
