"""Who a restored catalog lets in, and which sources' tokens it can still read.

A backup carries its users, the SHA-256 of their API keys and the sources' tokens sealed with the
server's key. Restore keeps them (that is what a backup is for) but says what it brings back; with
``revoke_keys`` every key it brings back is revoked and one fresh admin key is made, for an archive
that came from elsewhere. Tokens that do not open with the restored server's key (the key was left
out of the backup, or another one was given) are dropped and their sources switched off, so that no
run goes on without its credential and ``has_token`` tells the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.auth import add_user, audit, create_key
from core.catalog import ApiKey, Source, User, utcnow
from core.secrets import SecretUnreadable, Vault

FRESH_ADMIN = "admin"


@dataclass(frozen=True)
class Access:
    admins: list[str]  # user names
    users: int
    keys: int  # API keys not revoked, before any revocation here
    revoked: int = 0
    fresh_key: str | None = None  # the new admin key after revoking, shown once
    fresh_key_user: str | None = None


def review(s: Session, revoke_keys: bool) -> Access:
    """The admins and live keys of the restored catalog; with ``revoke_keys``, all of those keys
    revoked and a fresh key for the first admin by name (an ``admin`` user is made when there is
    none)."""
    admins = list(s.scalars(select(User.id).where(User.admin.is_(True)).order_by(User.id)))
    users = s.scalar(select(func.count()).select_from(User)) or 0
    live = ApiKey.revoked_at.is_(None)
    keys = s.scalar(select(func.count()).select_from(ApiKey).where(live)) or 0
    if not revoke_keys:
        return Access(admins, users, keys)
    s.execute(update(ApiKey).where(live).values(revoked_at=utcnow()))
    who = admins[0] if admins else add_user(s, FRESH_ADMIN, admin=True).id
    key = create_key(s, who, label="made by restore --revoke-keys")
    audit(s, None, "keys_revoked_on_restore", detail={"revoked": keys, "fresh_key_user": who})
    return Access(admins or [who], users, keys, keys, key, who)


def drop_unreadable_tokens(s: Session, vault: Vault) -> list[tuple[str, str]]:
    """Drop the sealed tokens ``vault`` cannot open and switch their sources off; the (id, name)
    of each such source."""
    dropped = []
    for src in s.scalars(select(Source).where(Source.secret.is_not(None)).order_by(Source.name)):
        try:
            vault.open(src.secret or b"")
        except SecretUnreadable:
            src.secret = None
            src.enabled = False
            src.next_run_at = None
            dropped.append((src.id, src.name))
    if dropped:
        audit(s, None, "source_tokens_dropped_on_restore", detail={"sources": len(dropped)})
    return dropped


def sealed_tokens(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(Source).where(Source.secret.is_not(None))) or 0
