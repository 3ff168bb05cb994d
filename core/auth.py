"""Users, API keys and who may do what to which collection.

A key reads ``askd_<id>_<secret>``: the id finds the row, the secret is compared by its SHA-256 (keys are
32 random bytes, so a slow password hash buys nothing; GitHub and Stripe keys work the same way). The
plain key is shown once, when it is made, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.catalog import ApiKey, AuditEvent, Catalog, Collection, Membership, User, utcnow
from core.errors import Conflict, DomainError, Invalid, NotFound

KEY_PREFIX = "askd_"
USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
_KEY_RE = re.compile(r"^askd_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
# last_used_at is written at most this often per key, so reads do not all become writes.
_TOUCH_EVERY = timedelta(minutes=1)


class Role(IntEnum):
    """What a user may do in one collection; a higher role includes the lower ones."""

    read = 1
    write = 2
    owner = 3


@dataclass(frozen=True)
class Principal:
    """Who is calling. With auth off everyone is the local admin."""

    user: str
    admin: bool
    key_id: str | None = None


LOCAL = Principal(user="local", admin=True)


class AuthError(DomainError):
    """A user, key or membership change that cannot be done; the message says why."""


class NoSuchUser(AuthError, NotFound):
    pass


class AuthConflict(AuthError, Conflict):
    pass


class BadAuthValue(AuthError, Invalid):
    pass


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def valid_user_name(name: str) -> bool:
    return re.fullmatch(USER_PATTERN, name) is not None


def add_user(s: Session, name: str, admin: bool = False) -> User:
    if not valid_user_name(name):
        raise BadAuthValue(
            f"{name!r} is not a valid user name (letters, digits, _ . @ -; 64 at most)"
        )
    if s.get(User, name) is not None:
        raise AuthConflict(f"user {name!r} exists already")
    user = User(id=name, admin=admin)
    s.add(user)
    s.flush()
    return user


def create_key(s: Session, user: str, label: str | None = None) -> str:
    """A new key for ``user``; the only time its plain text exists."""
    if s.get(User, user) is None:
        raise NoSuchUser(f"no user {user!r}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    s.add(ApiKey(id=key_id, user_id=user, secret_sha256=_sha256(secret), label=label))
    s.flush()
    return f"{KEY_PREFIX}{key_id}_{secret}"


def revoke_key(s: Session, key_id: str) -> None:
    key = s.get(ApiKey, key_id)
    if key is None:
        raise NoSuchUser(f"no key {key_id!r}")
    key.revoked_at = key.revoked_at or utcnow()


def verify_key(s: Session, presented: str) -> Principal | None:
    """The principal of a presented key, or None when it is malformed, unknown or revoked."""
    m = _KEY_RE.match(presented.strip())
    if m is None:
        return None
    key = s.get(ApiKey, m.group(1))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_sha256, _sha256(m.group(2))):
        return None
    user = s.get(User, key.user_id)
    if user is None:
        return None
    return Principal(user=user.id, admin=user.admin, key_id=key.id)


def authenticate(catalog: Catalog, presented: str) -> Principal | None:
    """``verify_key`` in a read-only session, and a note of the key's last use at most once a
    minute (so that requests do not all become catalog writes)."""
    with catalog.reader() as s:
        who = verify_key(s, presented)
        if who is None:
            return None
        key = s.get(ApiKey, who.key_id)
        last = key.last_used_at if key else None
    now = utcnow()
    if last is None or now - last > _TOUCH_EVERY:
        with catalog.session() as s:
            key = s.get(ApiKey, who.key_id)
            if key is not None:
                key.last_used_at = now
    return who


def bootstrap_admin(catalog: Catalog) -> str | None:
    """On a catalog without users: an ``admin`` user owning ``default``, and its first key.

    Returns the key to print once, or None when users exist already (or another process won the race).
    """
    try:
        with catalog.session() as s:
            if s.scalar(select(User.id).limit(1)) is not None:
                return None
            add_user(s, "admin", admin=True)
            coll = catalog.ensure_collection(s, "default", owner="admin")
            coll.owner_id = coll.owner_id or "admin"
            key = create_key(s, "admin", label="first admin key")
            audit(s, "admin", "user_created", detail={"user": "admin", "admin": True})
            return key
    except (IntegrityError, AuthConflict):  # another process made it between our check and ours
        return None


def role_in(s: Session, who: Principal, collection: str) -> Role | None:
    """The caller's role in ``collection``; None when it does not exist or they may not see it."""
    coll = s.get(Collection, collection)
    if coll is None or coll.deleted_at is not None:
        return None
    if who.admin or coll.owner_id == who.user:
        return Role.owner
    m = s.get(Membership, (collection, who.user))
    if m is None:
        return None
    return Role[m.role]


def readable(s: Session, who: Principal) -> set[str] | None:
    """Names of the live collections the caller may read; None means all of them (an admin;
    callers that list collections leave deleted ones out themselves: ``visible_collections``)."""
    if who.admin:
        return None
    live = Collection.deleted_at.is_(None)
    owned = s.scalars(select(Collection.id).where(Collection.owner_id == who.user, live))
    member = s.scalars(
        select(Membership.collection_id)
        .join(Collection, Collection.id == Membership.collection_id)
        .where(Membership.user_id == who.user, live)
    )
    return set(owned) | set(member)


def visible_collections(s: Session, who: Principal) -> list[Collection]:
    """The collections the caller may read, not deleted, by name."""
    q = select(Collection).where(Collection.deleted_at.is_(None)).order_by(Collection.id)
    allowed = readable(s, who)
    if allowed is not None:
        q = q.where(Collection.id.in_(allowed))
    return list(s.scalars(q))


def set_member(s: Session, collection: str, user: str, role: str | None) -> None:
    """Give ``user`` ``read`` or ``write`` in ``collection``, or remove them (``role`` None)."""
    coll = s.get(Collection, collection)
    if coll is None:
        raise NoSuchUser(f"no collection {collection!r}")
    if s.get(User, user) is None:
        raise NoSuchUser(f"no user {user!r}")
    if coll.owner_id == user:
        raise AuthConflict(f"{user!r} owns {collection!r} already")
    current = s.get(Membership, (collection, user))
    if role is None:
        if current is not None:
            s.delete(current)
        return
    if role not in ("read", "write"):
        raise BadAuthValue(f"role must be read or write, not {role!r}")
    if current is None:
        s.add(Membership(collection_id=collection, user_id=user, role=role))
    else:
        current.role = role


def audit(
    s: Session,
    user: str | None,
    action: str,
    collection: str | None = None,
    document: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Record one event in the caller's transaction."""
    s.add(
        AuditEvent(
            user_id=user,
            action=action,
            collection_id=collection,
            document_id=document,
            detail=json.dumps(detail, ensure_ascii=False) if detail else None,
        )
    )


def question_detail(question: str, keep_text: bool) -> dict[str, object]:
    """What the audit log keeps of a question: its hash and length, and its text when allowed."""
    out: dict[str, object] = {
        "question_sha256": hashlib.sha256(question.encode()).hexdigest()[:16],
        "chars": len(question),
    }
    if keep_text:
        out["question"] = question
    return out
