"""A git repository's branch (dulwich, the one module that imports it): the files of the branch's
tree, by path; the fingerprint is the blob id. The repository is mirrored (bare) under the data
dir; a re-sync fetches what is new and reads only the paths that changed between the last synced
commit and the new head. A remote repository is fetched over http(s) only, through ``GitWire``:
checked addresses, redirects kept on the repository's host, the token only to its https origin,
timeouts, a byte cap and the run's deadline. Errors never carry the token."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dulwich.client import LocalGitClient, Urllib3HttpGitClient
from dulwich.diff_tree import tree_changes
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.object_store import iter_tree_contents
from dulwich.repo import Repo

from sources.addresses import AddressPolicy, Refused
from sources.config import GIT_DEFAULT_INCLUDE, GitConfig
from sources.egress import DEADLINE_PASSED, bind, passed, scrub
from sources.githttp import GitWire, WireStop
from sources.types import BoundToken, Entry, Known, Scan, SourceUnavailable, wanted

FETCH_MAX_BYTES = 2 * 1024**3


def notebook_text(data: bytes) -> bytes:
    """A Jupyter notebook as Markdown: its text cells, and code cells fenced (outputs left out)."""
    nb = json.loads(data)
    parts: list[str] = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        text = "".join(src) if isinstance(src, list) else str(src)
        if not text.strip():
            continue
        if cell.get("cell_type") == "code":
            parts.append(f"```\n{text}\n```")
        else:
            parts.append(text)
    return "\n\n".join(parts).encode()


class GitConnector:
    def __init__(
        self,
        config: GitConfig,
        mirror: Path,
        state: Mapping[str, object],
        max_bytes: int,
        policy: AddressPolicy,
        token: BoundToken | str | None = None,
        deadline: float | None = None,
        fetch_max_bytes: int = FETCH_MAX_BYTES,
        timeout: float = 30.0,
    ) -> None:
        """:param max_bytes: largest file read out of the repository.
        :param token: sent (Basic auth) only to its https origin, which must be the repository's.
        :param deadline: a ``time.monotonic()`` value; a fetch past it fails.
        :param fetch_max_bytes: most bytes one fetch may download.
        :param timeout: seconds a connect or a read may wait."""
        self._config = config
        self._mirror = mirror
        self._state = state
        self._max_bytes = max_bytes
        self._policy = policy
        self._token = None if config.local else bind(token, config.url)
        self._deadline = deadline
        self._fetch_max_bytes = fetch_max_bytes
        self._timeout = timeout

    def _repo(self) -> Repo:
        if (self._mirror / "HEAD").exists():
            try:
                return Repo(str(self._mirror))
            except NotGitRepository:
                shutil.rmtree(self._mirror)
        self._mirror.mkdir(parents=True, exist_ok=True)
        return Repo.init_bare(str(self._mirror))

    def _client(self) -> tuple[LocalGitClient | Urllib3HttpGitClient, str]:
        cfg = self._config
        if cfg.local:
            if not Path(cfg.url).exists():
                raise SourceUnavailable(f"{cfg.url} does not exist on the server")
            return LocalGitClient(), cfg.url
        try:
            self._policy.check_listed(cfg.url)  # http(s) only, the egress allowlist
        except Refused as e:
            raise SourceUnavailable(str(e)) from None
        parts = urlsplit(cfg.url)
        host = parts.hostname or ""
        netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
        base = urlunsplit(
            (parts.scheme, netloc, "/", "", "")
        )  # credentials in the URL are not sent
        wire = GitWire(
            self._policy, cfg.url, self._token, self._timeout, self._fetch_max_bytes, self._deadline
        )
        return Urllib3HttpGitClient(base, pool_manager=wire), parts.path

    def _fetch(self, repo: Repo) -> bytes:
        cfg = self._config
        ref = f"refs/heads/{cfg.branch}".encode()
        if passed(self._deadline):
            raise SourceUnavailable(DEADLINE_PASSED)
        client, path = self._client()
        seen: dict[bytes, bytes] = {}

        def wants(refs: Mapping[bytes, bytes], depth: object = None) -> list[bytes]:
            seen.update(refs)
            return [refs[ref]] if ref in refs else []

        try:
            result = client.fetch(path, repo, determine_wants=wants)
        except (GitProtocolError, HangupException, NotGitRepository, OSError, WireStop) as e:
            why = f"{type(e).__name__}: {e}" if not isinstance(e, WireStop) else str(e)
            raise SourceUnavailable(scrub(f"cannot fetch {cfg.url}: {why}", self._token)) from None
        except Refused as e:
            raise SourceUnavailable(scrub(f"cannot fetch {cfg.url}: {e}", self._token)) from None
        finally:
            wire = getattr(client, "pool_manager", None)
            if isinstance(wire, GitWire):
                wire.tripwire.close()
        refs = getattr(result, "refs", seen) or seen
        if ref not in refs:
            branches = sorted(r.decode()[11:] for r in refs if r.startswith(b"refs/heads/"))
            raise SourceUnavailable(
                scrub(
                    f"{cfg.url} has no branch {cfg.branch!r} "
                    f"(it has: {', '.join(branches) or 'none'})",
                    self._token,
                )
            )
        head = refs[ref]
        repo.refs[ref] = head  # keeps the objects, and the next fetch sends only what is new
        return head

    def scan(self, previous: Mapping[str, Known]) -> Scan:
        repo = self._repo()
        head = self._fetch(repo)
        store = repo.object_store
        include = self._config.include or GIT_DEFAULT_INCLUDE
        exclude = self._config.exclude
        last = self._state.get("commit")
        globs = [list(include), list(exclude)]
        scan = Scan(iter(()), state={"commit": head.decode(), "globs": globs}, close=repo.close)

        def entry(path: bytes, mode: int, sha: bytes) -> Entry | None:
            if not stat.S_ISREG(mode):  # symlinks and submodules are not documents
                return None
            rel = path.decode("utf-8", "replace")
            if not wanted(rel, include, exclude):
                return None

            def read(sha: bytes = sha, rel: str = rel) -> bytes:
                data = store[sha].as_raw_string()
                if len(data) > self._max_bytes:
                    raise ValueError(
                        f"{rel} is {len(data)} bytes, over the limit of {self._max_bytes}"
                    )
                if rel.endswith(".ipynb"):
                    return notebook_text(data)
                return data

            return Entry(rel, rel, sha.decode(), read=read)

        new_tree = store[head].tree  # type: ignore[attr-defined]
        same_globs = self._state.get("globs") == globs
        if isinstance(last, str) and last.encode() in store and previous and same_globs:
            old_tree = store[last.encode()].tree  # type: ignore[attr-defined]
            scan.complete = False

            def changed() -> Iterator[Entry]:
                for ch in tree_changes(store, old_tree, new_tree):
                    old_path = ch.old.path if ch.old is not None else None
                    new_path = ch.new.path if ch.new is not None else None
                    if old_path is not None and new_path != old_path:
                        scan.gone.append(old_path.decode("utf-8", "replace"))
                    if new_path is None or ch.new is None:
                        continue
                    e = entry(new_path, ch.new.mode or 0, ch.new.sha or b"")
                    if e is not None:
                        yield e
                    elif old_path == new_path:  # no longer a document (now a link, say)
                        scan.gone.append(new_path.decode("utf-8", "replace"))

            scan.entries = changed()
        else:

            def everything() -> Iterator[Entry]:
                for t in iter_tree_contents(store, new_tree):
                    e = entry(t.path, t.mode, t.sha)
                    if e is not None:
                        yield e

            scan.entries = everything()
        return scan
