"""One sync run of a source: list it, compare with what the collection holds from it, queue the new
and changed documents (a changed one replaces its old version once indexed), delete those whose
origin is gone, and record what it did.

Every step commits alone (one origin: its document and its item together), so a run that dies
leaves the catalog consistent and the next run finishes the work. One run at a time per source: a
lease in the catalog, renewed while the run works, that runs out when its worker dies. Nothing is
deleted when the source could not be read as a whole, or when the listing met errors (a page that
failed to load is not gone).

A run's memory does not grow with the catalog's side of the source: the listing is handled a page
of entries at a time (their items looked up in one query), and what is gone is found by reading
the source's items a page at a time by key. What it keeps per listed origin is 8 bytes (the first
64 bits of its key: ``Keys``), 8 more for a new one, and the origins of the deletions it holds
back. Two origins whose keys share 64 bits would only keep an item that is gone: never a wrong
deletion.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core import blob_refs, celery_app, failpoints, lifecycle, metrics
from core.auth import Principal, Role, role_in
from core.blobs import BlobStore
from core.catalog import (
    Catalog,
    Collection,
    DocStatus,
    Document,
    Job,
    Source,
    SourceItem,
    SourceRun,
    User,
    utcnow,
)
from core.celery_app import PROCESS_MANY_TASK, PROCESS_TASK, REMOVE_TASK
from core.secrets import SecretUnreadable, Vault
from core.settings import Settings
from sources import config as configs
from sources import schedule, tokens
from sources.addresses import AddressPolicy
from sources.folder import FolderConnector
from sources.gitrepo import GitConnector
from sources.items import Item, Keys, Previous, item_key, item_of, item_pages, live_documents, pages
from sources.localgit import LocalGitConnector
from sources.roots import PathRefused, ServerPaths
from sources.types import Connector, Entry, Scan, SourceUnavailable
from sources.web import WebConnector

log = logging.getLogger(__name__)

MAX_FAILURES_KEPT = 200
# Entries of the listing handled together (their items read in one query), and items read from the
# catalog at once when looking for what is gone: a run's memory follows this, not the source's size.
PAGE_ITEMS = 500
# A small new document waits at most this long for others to share its ingest task.
SEND_WAIT_SECONDS = 2.0


@dataclass
class SyncContext:
    settings: Settings
    catalog: Catalog
    blobs: BlobStore
    vault: Vault
    enqueue: Callable[[str, str | list[str]], None]  # (task, id or ids)
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    page_size: int = PAGE_ITEMS  # entries looked up, and items read, at once


def server_paths(settings: Settings) -> ServerPaths:
    return ServerPaths.from_setting(settings.sources_folder_roots, settings.data_dir)


@dataclass(frozen=True)
class PathRights:
    """What decides which server folders a source may read: whose it is, and the collection's."""

    user: str | None
    admin: bool
    admin_owned: bool  # the collection is an admin's: grants to its name hold


def collection_admin_owned(s: Session, collection: str) -> bool:
    coll = s.get(Collection, collection)
    if coll is None:
        return False
    if coll.owner_id is None:  # made by the service itself, or with auth off
        return True
    owner = s.get(User, coll.owner_id)
    return owner is not None and owner.admin


def owner_rights(s: Session, src: Source) -> PathRights:
    """The source's owner as they are now: a revoked admin, or an owner who may no longer write
    to the collection, reads no server folder."""
    admin_owned = collection_admin_owned(s, src.collection_id)
    if src.owner_id is None:  # made with auth off: the local admin
        return PathRights(None, True, admin_owned)
    user = s.get(User, src.owner_id)
    if user is None:
        raise SourceUnavailable(f"the source's owner {src.owner_id!r} is gone: not synced")
    role = role_in(s, Principal(user.id, user.admin), src.collection_id)
    if role is None or role < Role.write:
        raise SourceUnavailable(
            f"the source's owner {user.id!r} may no longer write to {src.collection_id!r}"
        )
    return PathRights(user.id, user.admin, admin_owned)


def connector(ctx: SyncContext, src: Source, deadline: float | None = None) -> Connector:
    """The connector of ``src``. A server path is checked again here, at every run, for the
    source's owner as they are now (a revoked admin, a root the operator closed or re-granted),
    and again against the directory the run really opened."""
    cfg = configs.load(src.kind, src.config)
    policy = AddressPolicy.from_setting(
        ctx.settings.sources_private_hosts, ctx.settings.sources_allowed_hosts
    )
    limit = min(ctx.settings.sources_max_bytes, ctx.settings.max_upload_bytes)
    timeout = ctx.settings.sources_timeout_seconds
    state = json.loads(src.state or "{}")
    mirror = ctx.settings.sources_dir / src.id / "mirror.git"
    local = isinstance(cfg, configs.FolderConfig) or (
        isinstance(cfg, configs.GitConfig) and cfg.local
    )
    if local:
        with ctx.catalog.reader() as s:
            who = owner_rights(s, src)
        paths = server_paths(ctx.settings)
        where = cfg.path if isinstance(cfg, configs.FolderConfig) else cfg.url
        args = (src.collection_id, who.user, who.admin, who.admin_owned)

        def check_root(opened: Path) -> None:
            try:
                paths.check_opened(opened, *args)
            except PathRefused as e:
                raise SourceUnavailable(str(e)) from e

        try:
            paths.check(where, *args)
        except PathRefused as e:
            raise SourceUnavailable(str(e)) from e
        if isinstance(cfg, configs.FolderConfig):
            return FolderConnector(cfg, limit, check_root, state)
        return LocalGitConnector(
            cfg,
            check_root,
            lambda opened: GitConnector(
                opened, mirror, state, limit, policy, token=None, deadline=deadline
            ),
        )
    try:
        token = tokens.unseal(ctx.vault, src.secret, cfg.url) if src.secret else None
    except SecretUnreadable as e:
        raise SourceUnavailable(str(e)) from e
    if isinstance(cfg, configs.WebConfig):
        return WebConnector(cfg, policy, limit, token=token, timeout=timeout, deadline=deadline)
    return GitConnector(
        cfg,
        mirror,
        state,
        limit,
        policy,
        token=token,
        deadline=deadline,
        fetch_max_bytes=ctx.settings.sources_git_max_bytes,
        timeout=timeout,
    )


# -- runs: queued by the schedule or by hand ------------------------------------------------------


def last_held(s: Session, source_id: str) -> SourceRun | None:
    """The source's newest run, when it ended held (an older held run was followed by others)."""
    newest = s.scalars(
        select(SourceRun)
        .where(SourceRun.source_id == source_id, SourceRun.status.not_in(("queued", "running")))
        .order_by(SourceRun.created_at.desc())
        .limit(1)
    ).first()
    return newest if newest is not None and newest.status == "held" else None


def queue_run(
    s: Session, src: Source, trigger: str, confirms: SourceRun | None = None
) -> SourceRun:
    """A run for ``src`` (the caller sends its task after commit); a run already waiting is
    returned instead of a second one. ``confirms``: the held run whose deletions it carries out
    (the one the person saw), whichever run ends held meanwhile."""
    waiting = s.scalars(
        select(SourceRun).where(SourceRun.source_id == src.id, SourceRun.status == "queued")
    ).first()
    if waiting is not None:
        if confirms is not None:
            waiting.confirm_deletions, waiting.confirms_run = True, confirms.id
        return waiting
    run = SourceRun(
        id=str(uuid.uuid4()),
        source_id=src.id,
        trigger=trigger,
        status="queued",
        confirm_deletions=confirms is not None,
        confirms_run=confirms.id if confirms is not None else None,
        held=0,
    )
    for n in ("listed", "new", "changed", "unchanged", "renamed", "deleted", "failed", "skipped"):
        setattr(run, n, 0)
    s.add(run)
    s.flush()
    return run


def due(catalog: Catalog, limit: int = 100, resend_after: float = 300.0) -> list[str]:
    """Queue a run of every enabled source whose time has come, and move its next time on; mark
    runs whose worker died (their source's lease ran out) interrupted, and send again runs that
    waited longer than ``resend_after`` s (their message may be lost: a second one is harmless,
    only one worker can claim a run). Returns the run ids to send."""
    now = utcnow()
    runs: list[str] = []
    with catalog.session() as s:
        dead = s.execute(
            select(SourceRun, Source)
            .join(Source, Source.id == SourceRun.source_id)
            .where(
                SourceRun.status == "running",
                Source.lease_until.is_not(None),
                Source.lease_until < now,
            )
        ).all()
        for stale, src in dead:
            stale.status, stale.finished_at = "interrupted", now
            stale.message = "its worker stopped before it ended; the next run goes on"
            src.lease_owner = src.lease_until = None
        waiting = s.scalars(
            select(SourceRun.id).where(
                SourceRun.status == "queued",
                SourceRun.created_at < now - timedelta(seconds=resend_after),
            )
        )
        runs += list(waiting)
        rows = s.scalars(
            select(Source)
            .join(Collection, Collection.id == Source.collection_id)
            .where(
                Source.enabled.is_(True),
                Source.next_run_at.is_not(None),
                Source.next_run_at <= now,
                Collection.deleted_at.is_(None),
            )
            .order_by(Source.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Source)
        ).all()
        for src in rows:
            src.next_run_at = schedule.next_run(src.interval_seconds, src.cron, now)
            runs.append(queue_run(s, src, "schedule").id)
    return runs


# -- a run -----------------------------------------------------------------------------------------


class _Run:
    """The state of one run in progress."""

    def __init__(self, ctx: SyncContext, src: Source, run: SourceRun) -> None:
        self.ctx = ctx
        self.source_id = src.id
        self.kind = src.kind
        self.started = time.monotonic()
        self.collection = src.collection_id
        self.run_id = run.id
        self.job_id = run.job_id or ""
        self.counts = dict.fromkeys(
            (
                "listed",
                "new",
                "changed",
                "unchanged",
                "renamed",
                "deleted",
                "failed",
                "skipped",
                "held",
            ),
            0,
        )
        # what a confirmation lets this run delete: the held origins of the run it confirms
        self.confirmed: set[str] = set()
        self.held_origins: list[str] = []
        self.failures: list[dict[str, str]] = []
        # the items of the page of entries being handled (``_load``), as this run leaves them
        self.items: dict[str, Item] = {}
        # which of their documents are not deleted (and the ones this run makes)
        self.live_docs: set[str] = set()
        self.seen = Keys()  # every origin listed
        self.new_here = Keys()  # the origins this run added
        self.lease = timedelta(seconds=ctx.settings.sources_lease_seconds)
        self.done = threading.Event()
        self.lost = False
        # when the hold was last renewed (monotonic; the claim took it just before)
        self.renewed = time.monotonic()
        # new small documents not sent yet: one ingest task per batch of them (``flush``)
        self.small: list[str] = []
        self.small_since = 0.0

    def send(self, doc_id: str, size: int) -> None:
        """Send the ingest task of a queued document: a large one alone; small ones together, as
        an upload's are, once a batch is full or the first has waited ``SEND_WAIT_SECONDS``."""
        if size > celery_app.INGEST_BATCH_BYTES:
            self.ctx.enqueue(PROCESS_TASK, doc_id)
            return
        if not self.small:
            self.small_since = time.monotonic()
        self.small.append(doc_id)
        self.flush_due()

    def flush_due(self) -> None:
        """Send the small documents held back once a batch is full or the first has waited."""
        full = len(self.small) >= self.ctx.settings.ingest_batch_docs
        if self.small and (full or time.monotonic() - self.small_since >= SEND_WAIT_SECONDS):
            self.flush()

    def flush(self) -> None:
        """Send the small documents held back (at the end of the run, whatever ended it)."""
        held, self.small = self.small, []
        if len(held) == 1:
            self.ctx.enqueue(PROCESS_TASK, held[0])
        elif held:
            self.ctx.enqueue(PROCESS_MANY_TASK, held)

    def fail_one(self, origin: str, reason: str) -> None:
        self.counts["failed"] += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append({"origin": origin[:2048], "reason": reason[:1000]})

    def hold(self) -> threading.Thread:
        """Renew the hold on the source every third of the lease, in a thread, until ``done``
        is set: a long fetch (a big repository, a slow page) keeps it too."""

        def beat() -> None:
            every = self.lease.total_seconds() / 3
            while not self.done.wait(every):
                try:
                    self._renew()
                except Exception:  # noqa: BLE001 - tried again at the next beat; ``keep_lease`` judges
                    log.warning(
                        "renewing the hold of source %s failed", self.source_id, exc_info=True
                    )
                    continue
                if self.lost:
                    return

        thread = threading.Thread(target=beat, name=f"source-lease-{self.source_id}", daemon=True)
        thread.start()
        return thread

    def _renew(self) -> None:
        """Push the hold's end a lease ahead while this run still holds the source; ``lost`` when
        another run holds it (it claimed the source once this one's lease ran out)."""
        asked = time.monotonic()
        with self.ctx.catalog.session() as s:
            held = s.execute(
                update(Source)
                .where(Source.id == self.source_id, Source.lease_owner == self.ctx.owner)
                .values(lease_until=utcnow() + self.lease)
            ).rowcount
        if held:
            self.renewed = max(self.renewed, asked)
        else:
            self.lost = True

    def keep_lease(self) -> None:
        """Stop when the hold was lost (the run stalled past its lease and was taken over). When
        it was not renewed for two thirds of the lease (beats failed, or the process stalled),
        renew it here first: only a run that still holds the source goes on, since what another
        run added this one never listed."""
        if not self.lost and time.monotonic() - self.renewed > self.lease.total_seconds() * 2 / 3:
            try:
                self._renew()
            except Exception as e:  # noqa: BLE001 - cannot tell: stop rather than delete on doubt
                self.lost = True
                raise LeaseLost("the hold on the source could not be renewed") from e
        if self.lost:
            raise LeaseLost("another run took the source over (this one stalled past its lease)")


class LeaseLost(RuntimeError):
    pass


def _load(r: _Run, entries: list[Entry]) -> None:
    """Read the items of a page of entries, and which of their documents are not deleted."""
    keys = list({item_key(e.origin) for e in entries})
    with r.ctx.catalog.reader() as s:
        rows = s.scalars(
            select(SourceItem).where(SourceItem.source_id == r.source_id, SourceItem.key.in_(keys))
        )
        r.items = {row.origin: item_of(row) for row in rows}
        r.live_docs = live_documents(s, {i.document_id for i in r.items.values() if i.document_id})


def _save_item(s: Session, r: _Run, e: Entry, sha: str, doc_id: str, owns: bool) -> None:
    key = item_key(e.origin)
    row = s.get(SourceItem, (r.source_id, key))
    if row is None:
        row = SourceItem(source_id=r.source_id, key=key, origin=e.origin)
        s.add(row)
    row.fingerprint = e.fingerprint
    row.content_sha256 = sha
    row.document_id = doc_id
    row.owns = owns
    row.meta = json.dumps(dict(e.meta)) if e.meta else None
    row.synced_at = utcnow()
    r.items[e.origin] = Item(key, e.fingerprint, sha, doc_id, owns, dict(e.meta), e.origin)
    r.live_docs.add(doc_id)


def _touch_item(r: _Run, e: Entry) -> None:
    """Unchanged content: keep the new fingerprint (and links) so the next run skips it cheaply."""
    item = r.items[e.origin]
    if item.fingerprint == e.fingerprint and (not e.meta or dict(e.meta) == item.meta):
        return
    with r.ctx.catalog.session() as s:
        row = s.get(SourceItem, (r.source_id, item.key))
        if row is not None:
            row.fingerprint = e.fingerprint
            if e.meta:
                row.meta = json.dumps(dict(e.meta))
    item.fingerprint = e.fingerprint


def _referenced(s: Session, doc_id: str, but: tuple[str, str]) -> list[SourceItem]:
    return list(
        s.scalars(
            select(SourceItem).where(
                SourceItem.document_id == doc_id,
                (SourceItem.source_id != but[0]) | (SourceItem.key != but[1]),
            )
        )
    )


def _one(r: _Run, e: Entry) -> None:
    ctx = r.ctx
    r.counts["listed"] += 1
    r.seen.add(item_key(e.origin))
    if e.error is not None:
        r.fail_one(e.origin, e.error)
        return
    item = r.items.get(e.origin)
    alive = item is not None and item.document_id in r.live_docs
    if item is not None and alive and e.fingerprint and item.fingerprint == e.fingerprint:
        r.counts["unchanged"] += 1
        _touch_item(r, e)
        return
    if e.read is None:  # the source says unchanged (304) but holds nothing we have: nothing to do
        r.counts["unchanged" if alive else "skipped"] += 1
        return
    try:
        data = e.read()
    except Exception as err:  # noqa: BLE001 - one unreadable file fails alone
        r.fail_one(e.origin, f"{type(err).__name__}: {err}")
        return
    sha = hashlib.sha256(data).hexdigest()
    if item is not None and alive and item.sha == sha:
        r.counts["unchanged"] += 1
        _touch_item(r, e)
        return
    if not data:
        r.fail_one(e.origin, f"{e.origin} is empty (0 bytes)")
        return
    blob = ctx.blobs.put(data)
    to_process: str | None = None
    to_remove: list[str] = []
    with ctx.catalog.session() as s:
        blob_refs.hold(s, ctx.blobs, blob, len(data), lambda: ctx.blobs.put(data))
        got = lifecycle.admit(
            s,
            r.collection,
            blob,
            e.name[:512],
            len(data),
            content_type=(e.content_type or None) and e.content_type[:128],
            job_ids=[r.job_id] if r.job_id else [],
        )
        doc = s.get(Document, got.document_id)
        assert doc is not None
        if got.queued:
            doc.source_id, doc.origin = r.source_id, e.origin
            to_process = doc.id
            owns = True
        else:  # the bytes are in the collection already: this source's (a rename, a copy) or not
            owns = doc.source_id == r.source_id
        old = item.document_id if item is not None else None
        _save_item(s, r, e, sha, doc.id, owns)
        if (
            old
            and old != doc.id
            and not got.queued  # a queued new version replaces the old one itself, once indexed
            and item is not None
            and item.owns
            and not _referenced(s, old, (r.source_id, item_key(e.origin)))
        ):
            old_doc = s.get(Document, old)
            if old_doc is not None and old_doc.status != DocStatus.deleted:
                to_remove = lifecycle.delete_document(s, old_doc)
    r.counts["changed" if item is not None else "new"] += 1
    if item is None:
        r.new_here.add(item_key(e.origin))
    if to_process:
        r.send(to_process, len(data))
    for doc_id in to_remove:
        ctx.enqueue(REMOVE_TASK, doc_id)


def _gone(r: _Run, item: Item) -> None:
    """``item``'s origin left the source: the item goes, and its document unless another origin
    holds the same bytes (a renamed file: the document takes the new name)."""
    ctx, origin = r.ctx, item.origin
    to_remove: list[str] = []
    renamed = False
    with ctx.catalog.session() as s:
        row = s.get(SourceItem, (r.source_id, item.key))
        if row is not None:
            s.delete(row)
        doc = s.get(Document, item.document_id) if item.document_id else None
        if doc is not None and doc.status != DocStatus.deleted and item.owns:
            others = _referenced(s, doc.id, (r.source_id, item.key))
            ours = [o for o in others if o.source_id == r.source_id]
            if not others:
                to_remove = lifecycle.delete_document(s, doc)
            elif doc.origin == origin and ours:
                doc.origin = ours[0].origin
                doc.name = ours[0].origin[:512]
                renamed = item_key(ours[0].origin) in r.new_here
        # an older version of it still searchable (its newer one failed, say) goes too
        for older in s.scalars(
            select(Document).where(
                Document.source_id == r.source_id,
                Document.origin == origin,
                Document.status != DocStatus.deleted,
            )
        ):
            if older.id != item.document_id and not _referenced(s, older.id, ("", "")):
                to_remove += lifecycle.delete_document(s, older)
    if renamed:
        r.counts["renamed"] += 1
        r.counts["new"] -= 1
    else:
        r.counts["deleted"] += 1
    for doc_id in to_remove:
        ctx.enqueue(REMOVE_TASK, doc_id)


class RunDeadline(RuntimeError):
    """The run passed ``sources_run_seconds``."""


def _unseen(r: _Run, scan: Scan) -> Iterator[list[Item]]:
    """Pages of the items gone from the listing: every item of an origin not listed when the
    listing was whole (a doubtful listing too: it counts what a whole one would delete), else
    those of the origins the connector said are gone (``scan.gone``) and were not listed."""
    if scan.complete or scan.doubt:
        for page in item_pages(r.ctx.catalog, r.source_id, r.ctx.page_size):
            unseen = [i for i in page if i.key not in r.seen]
            if unseen:
                yield unseen
        return
    keys = list(dict.fromkeys(k for k in map(item_key, scan.gone) if k not in r.seen))
    for at in range(0, len(keys), r.ctx.page_size):
        with r.ctx.catalog.reader() as s:
            rows = s.scalars(
                select(SourceItem)
                .where(
                    SourceItem.source_id == r.source_id,
                    SourceItem.key.in_(keys[at : at + r.ctx.page_size]),
                )
                .order_by(SourceItem.key)
            )
            page = [item_of(row) for row in rows]
        if page:
            yield page


def _deletions(r: _Run, page: list[Item]) -> list[tuple[Item, bool]]:
    """Each item of ``page``, and whether removing it deletes its document: not when an origin
    this run listed holds the same document (a rename, or a copy)."""
    docs = list({i.document_id for i in page if i.document_id})
    kept: set[str] = set()
    if docs:
        with r.ctx.catalog.reader() as s:
            rows = s.execute(
                select(SourceItem.key, SourceItem.document_id).where(
                    SourceItem.source_id == r.source_id, SourceItem.document_id.in_(docs)
                )
            )
            kept = {doc for key, doc in rows if key in r.seen}
    return [(i, i.document_id not in kept) for i in page]


def _plan(r: _Run, scan: Scan, known: int) -> str | None:
    """Why the deletions of this run must wait for a person (the run ends ``held``), or None
    when nothing waits. Counts them a page of items at a time; ``_remove_gone`` then does it.

    A listing is doubted when its connector said so (a robots.txt that refuses, a share on
    another device), when it found nothing where the source held documents (an unmounted share
    looks empty), or when it lost more than ``sources_max_delete_share`` of them. Renames (the
    same document under another origin of this run) are not deletions and always go through. A
    run asked to confirm deletions removes those the held run it confirms held back (and that are
    still gone from a whole listing), never more: the rest is judged as in any run."""
    # a confirmation counts on a whole listing only: a page robots.txt hid may be back
    confirmed = r.confirmed if scan.complete else set()
    rest = sum(
        1
        for page in _unseen(r, scan)
        for item, deletes in _deletions(r, page)
        if deletes and item.origin not in confirmed
    )
    share = r.ctx.settings.sources_max_delete_share
    if not rest:
        why = None
    elif scan.doubt:
        why = scan.doubt
    elif r.counts["listed"] == 0 and known:
        why = f"the source listed nothing, but held {known} documents"
    elif known and rest / known > share:
        why = f"more than {share:.0%} of its {known} documents would go"
    else:
        why = None
    if why is None:
        return None
    return (
        f"{rest} deletions held, not deleted: {why}. To delete them, sync again with "
        f"confirmation (askdocs source sync {r.source_id} --confirm-deletions, or the Sources "
        "tab)"
    )


def _remove_gone(r: _Run, scan: Scan, held: bool) -> None:
    """Remove what left the source, a page of items at a time; when the run ``held`` its
    deletions, only renames and what a confirmation covers go, the rest is recorded as held."""
    confirmed = r.confirmed if scan.complete else set()
    for page in _unseen(r, scan):
        for item, deletes in _deletions(r, page):
            if held and deletes and item.origin not in confirmed:
                r.held_origins.append(item.origin)
                continue
            r.keep_lease()  # before: what another run added meanwhile is not in this listing
            _gone(r, item)
    r.counts["held"] = len(r.held_origins)


def _claim(ctx: SyncContext, run_id: str) -> _Run | float | None:
    """Take the run's source for this worker. None: the run is not waiting any more (done, or
    the source is gone); a number: another live run holds the source for that many seconds."""
    now = utcnow()
    with ctx.catalog.session() as s:
        run = s.get(SourceRun, run_id, with_for_update=True)
        if run is None or run.status not in ("queued", "running"):
            return None
        src = s.get(Source, run.source_id, with_for_update=True)
        coll = s.get(Collection, src.collection_id) if src is not None else None
        if src is None or coll is None or coll.deleted_at is not None:
            run.status, run.finished_at = "skipped", now
            run.message = "the source or its collection was deleted"
            return None
        if src.lease_until is not None and src.lease_until > now:
            if run.status == "running":
                return None  # its own worker is on it
            return max(1.0, (src.lease_until - now).total_seconds())
        # a run still marked running lost its worker (its lease ran out): this one goes on
        for stale in s.scalars(
            select(SourceRun).where(
                SourceRun.source_id == src.id,
                SourceRun.status == "running",
                SourceRun.id != run.id,
            )
        ):
            stale.status, stale.finished_at = "interrupted", now
            stale.message = "its worker stopped before it ended; the next run went on"
        src.lease_owner = ctx.owner
        src.lease_until = now + timedelta(seconds=ctx.settings.sources_lease_seconds)
        job = Job(id=lifecycle.new_job_id(), collection_id=src.collection_id)
        job.created_by = src.owner_id
        s.add(job)
        run.status, run.started_at, run.job_id = "running", now, job.id
        s.flush()
        r = _Run(ctx, src, run)
        confirmed = s.get(SourceRun, run.confirms_run) if run.confirms_run else None
        if confirmed is not None and confirmed.source_id == src.id and confirmed.held_origins:
            r.confirmed = set(json.loads(confirmed.held_origins))
    return r


def _finish(
    r: _Run, status: str, message: str | None = None, state: dict[str, Any] | None = None
) -> None:
    metrics.SOURCE_RUNS.labels(r.kind, status).inc()
    metrics.SOURCE_RUN_SECONDS.labels(r.kind).observe(time.monotonic() - r.started)
    for action in ("new", "changed", "unchanged", "renamed", "deleted", "failed"):
        if r.counts[action]:
            metrics.SOURCE_DOCUMENTS.labels(r.kind, action).inc(r.counts[action])
    with r.ctx.catalog.session() as s:
        run = s.get(SourceRun, r.run_id)
        if run is not None:
            for k, v in r.counts.items():
                setattr(run, k, v)
            run.failures = json.dumps(r.failures) if r.failures else None
            run.held_origins = json.dumps(r.held_origins) if r.held_origins else None
            run.status, run.message, run.finished_at = status, message, utcnow()
        src = s.get(Source, r.source_id)
        if src is not None and src.lease_owner == r.ctx.owner:
            src.lease_owner = src.lease_until = None
            if state is not None:
                src.state = json.dumps(state)


@dataclass(frozen=True)
class Outcome:
    status: str | None  # done, held, failed, interrupted; None: not ours to run (or not yet)
    wait: float = 0.0  # > 0: another run holds the source; try again after this many seconds


def run(ctx: SyncContext, run_id: str) -> Outcome:
    """Do the queued run ``run_id`` (or go on with one whose worker died)."""
    r = _claim(ctx, run_id)
    if r is None:
        return Outcome(None)
    if isinstance(r, float):
        return Outcome(None, wait=r)
    with ctx.catalog.reader() as s:
        src = s.get(Source, r.source_id)
        assert src is not None
        s.expunge(src)
    started = time.monotonic()
    scan = None
    held: str | None = None
    holder = r.hold()
    try:
        previous = Previous(ctx.catalog, r.source_id, ctx.page_size)
        deadline = started + ctx.settings.sources_run_seconds
        scan = connector(ctx, src, deadline=deadline).scan(previous)
        # entries that hold their bytes already (a web page's body) are taken one at a time
        for page in pages(scan.entries, ctx.page_size if scan.read_ahead else 1):
            _load(r, page)
            for entry in page:
                _one(r, entry)
                r.flush_due()
                failpoints.hit("sources.after_entry")
                r.keep_lease()
                if time.monotonic() > deadline:
                    raise RunDeadline(
                        f"the run passed its deadline of {ctx.settings.sources_run_seconds} s "
                        "(ASKDOCS_SOURCES_RUN_SECONDS): what it listed is kept, nothing was "
                        "deleted; the next run goes on"
                    )
        # a doubtful listing counts what a whole one would delete: held, or carried out when a
        # person confirmed it
        held = _plan(r, scan, len(previous))
        _remove_gone(r, scan, held is not None)
        r.counts["skipped"] += scan.skipped
    except (SourceUnavailable, RunDeadline) as e:
        _finish(r, "failed", str(e))
        return Outcome("failed")
    except LeaseLost as e:
        _finish(r, "interrupted", str(e))
        return Outcome("interrupted")
    except Exception as e:
        log.exception("sync run %s failed", run_id)
        # the exception's text may hold what the source made it read: it stays in the log
        _finish(r, "failed", f"internal error ({type(e).__name__}): see the sources worker's log")
        raise
    finally:
        try:  # documents admitted before an error still get their task
            r.flush()
        except Exception:  # noqa: BLE001 - the janitor sends queued documents left without one
            log.exception("sending the ingest tasks of run %s failed", run_id)
        r.done.set()
        holder.join()
        if scan is not None and scan.close is not None:
            scan.close()
    took = time.monotonic() - started
    if held is not None:
        _finish(r, "held", held)  # the state stays: the next run sees the same changes again
        log.warning("sync run %s of source %s held its deletions: %s", run_id, r.source_id, held)
        return Outcome("held")
    _finish(r, "done", f"took {took:.1f} s", state=scan.state)
    log.info(
        "synced source %s: %s",
        r.source_id,
        r.counts,
        extra={"source": r.source_id, "run": run_id, **r.counts, "seconds": round(took, 3)},
    )
    return Outcome("done")


def remove_source(s: Session, src: Source, keep_documents: bool) -> list[str]:
    """Delete ``src``, its items and runs; its documents too unless ``keep_documents`` (those
    another source or an upload also holds stay). Returns the document ids to send to the
    indexer."""
    gone: list[str] = []
    items = list(s.scalars(select(SourceItem).where(SourceItem.source_id == src.id)))
    for item in items:
        if not keep_documents and item.owns and item.document_id:
            doc = s.get(Document, item.document_id)
            if (
                doc is not None
                and doc.status != DocStatus.deleted
                and not _referenced(s, doc.id, (src.id, item.key))
            ):
                gone += lifecycle.delete_document(s, doc)
        s.delete(item)
    for doc in s.scalars(
        select(Document).where(Document.source_id == src.id, Document.status != DocStatus.deleted)
    ):
        if keep_documents:  # from now on they are as if uploaded
            doc.source_id = None
        else:  # versions still on their way (queued, parsing) go too
            gone += lifecycle.delete_document(s, doc)
    s.execute(delete(SourceRun).where(SourceRun.source_id == src.id))
    s.flush()
    s.delete(src)
    return gone


def source_documents(s: Session, source_id: str) -> int:
    return (
        s.scalar(
            select(func.count())
            .select_from(Document)
            .where(Document.source_id == source_id, Document.status != DocStatus.deleted)
        )
        or 0
    )
