"""Backups handed to a backup system, and archives that come back altered.

A service with documents, a web source holding a token and users with API keys is backed up with
the real `askdocs backup` while it runs (once without its key, once `--with-key`). Then: every
directory of a backup is 0700 and every file 0600, the manifest lists each file's sha256 and size,
the key is only there when asked for; `askdocs restore` refuses an archive with a changed, a
missing or an extra file, a symbolic link (to a file or a directory outside, with a checksum that
would match what it points at) or a manifest path that leaves the backup, and writes nothing then;
restored without the key, the source's token is dropped and the source switched off (and comes back
with `--key FILE`); `--revoke-keys` leaves no old key working and prints a fresh admin key.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.auth import add_user, create_key
from core.catalog import Source
from core.secrets import Vault
from core.settings import Settings
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, in_process

pytestmark = pytest.mark.service

TOKEN = "ghp_the-wiki-token-0123456789"
FILES = {
    "kettle.txt": b"Copper kettles are polished every spring in the old mill by the river.",
    "crane.txt": b"The harbour crane lifts forty containers an hour in calm weather.",
}


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASKDOCS_DATA_DIR": str(data)}
    env.pop("ASKDOCS_SECRET_KEY", None)
    env.pop("ASKDOCS_DATABASE_URL", None)
    exe = Path(sys.executable).parent / "askdocs"
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=300)


@dataclass(frozen=True)
class Made:
    data: Path  # the backed-up service's data dir
    plain: Path  # `askdocs backup DIR`
    keyed: Path  # `askdocs backup DIR --with-key`
    plain_output: str
    source_id: str
    keys: dict[str, str]  # user -> plain API key


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    root = tmp_path_factory.mktemp("backup_safety")
    redis_server.client(SERVICE_REDIS_DB).flushdb()
    data = root / "data"
    with in_process(data) as h:
        h.upload("kept", *FILES.items())
        h.work()
        r = h.client.post(
            "/sources",
            json={
                "kind": "web",
                "collection": "kept",
                "name": "wiki",
                "config": {"url": "https://wiki.example.org/start"},
                "token": TOKEN,
                "sync_now": False,
            },
        )
        assert r.status_code == 201, r.text
        source_id = r.json()["id"]
        with h.services.catalog.session() as s:
            add_user(s, "alice", admin=True)
            add_user(s, "bob")
            keys = {"alice": create_key(s, "alice"), "bob": create_key(s, "bob")}
        plain = cli(data, "backup", str(root / "plain"))  # while the service runs
        assert plain.returncode == 0, plain.stdout + plain.stderr
        keyed = cli(data, "backup", str(root / "keyed"), "--with-key")
        assert keyed.returncode == 0, keyed.stdout + keyed.stderr
    yield Made(data, root / "plain", root / "keyed", plain.stdout, source_id, keys)
    redis_server.client(SERVICE_REDIS_DB).flushdb()


def _manifest(backup: Path) -> dict:
    return json.loads((backup / "backup.json").read_text())


def _write_manifest(backup: Path, manifest: dict) -> None:
    (backup / "backup.json").write_text(json.dumps(manifest))


def _copy(backup: Path, to: Path) -> Path:
    shutil.copytree(backup, to, symlinks=True)
    return to


def _blob(backup: Path) -> str:
    return min(p.relative_to(backup).as_posix() for p in backup.glob("blobs/*/*"))


def _nothing_written(data: Path) -> bool:
    return not data.exists() or not any(data.iterdir())


def _refused(data: Path, backup: Path, *words: str) -> None:
    done = cli(data, "restore", str(backup))
    out = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    assert done.returncode != 0, out
    assert "restore failed" in out and all(w in out for w in words), out
    assert _nothing_written(data), sorted(p.name for p in data.rglob("*"))


# -- what a backup holds, and how -----------------------------------------------------------------


def test_every_part_of_a_backup_is_private_and_checksummed(made: Made) -> None:
    for backup in (made.plain, made.keyed):
        assert stat.S_IMODE(backup.stat().st_mode) == 0o700
        found = {}
        for path in backup.rglob("*"):
            mode = stat.S_IMODE(path.lstat().st_mode)
            assert not path.is_symlink(), path
            assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
            if path.is_file() and path.name != "backup.json":
                data = path.read_bytes()
                found[path.relative_to(backup).as_posix()] = {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                }
        assert _manifest(backup)["files"] == found
        assert any(n.startswith("blobs/") for n in found) and any(
            n.startswith("index/kept/") for n in found
        )


def test_the_key_is_left_out_unless_asked_for(made: Made) -> None:
    assert not (made.plain / "secret.key").exists()
    assert "secret.key" not in _manifest(made.plain)["files"]
    assert _manifest(made.plain)["with_key"] is False
    said = " ".join(made.plain_output.split())
    assert "secret.key left out" in said and "--key FILE" in said

    key = made.keyed / "secret.key"
    assert key.read_bytes() == (made.data / "secret.key").read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert _manifest(made.keyed)["with_key"] is True


# -- restore refuses an altered archive and writes nothing ----------------------------------------


def test_restore_refuses_a_changed_file(made: Made, tmp_path: Path) -> None:
    backup = _copy(made.plain, tmp_path / "backup")
    blob = backup / _blob(backup)
    blob.write_bytes(
        blob.read_bytes().replace(b"Copper", b"Pewter").replace(b"harbour", b"HARBOUR")
    )
    _refused(tmp_path / "data", backup, "does not match its manifest", "changed")


def test_restore_refuses_an_extra_file(made: Made, tmp_path: Path) -> None:
    backup = _copy(made.plain, tmp_path / "backup")
    (backup / "blobs" / "zz").mkdir()
    (backup / "blobs" / "zz" / "planted").write_bytes(b"not from this backup")
    _refused(tmp_path / "data", backup, "not listed", "blobs/zz/planted")


def test_restore_refuses_a_missing_file(made: Made, tmp_path: Path) -> None:
    backup = _copy(made.plain, tmp_path / "backup")
    (backup / _blob(backup)).unlink()
    _refused(tmp_path / "data", backup, "missing")


def test_restore_refuses_a_symlink_to_a_file_outside(made: Made, tmp_path: Path) -> None:
    backup = _copy(made.plain, tmp_path / "backup")
    blob = backup / _blob(backup)
    outside = tmp_path / "outside"
    outside.write_bytes(blob.read_bytes())  # followed, it would even match its checksum
    blob.unlink()
    blob.symlink_to(outside)
    _refused(tmp_path / "data", backup, "symbolic link")


def test_restore_refuses_a_key_that_links_to_etc_passwd(made: Made, tmp_path: Path) -> None:
    backup = _copy(made.keyed, tmp_path / "backup")
    passwd = Path("/etc/passwd").read_bytes()
    (backup / "secret.key").unlink()
    (backup / "secret.key").symlink_to("/etc/passwd")
    manifest = _manifest(backup)
    manifest.setdefault("files", {})["secret.key"] = {
        "sha256": hashlib.sha256(passwd).hexdigest(),
        "size": len(passwd),
    }
    _write_manifest(backup, manifest)
    _refused(tmp_path / "data", backup, "symbolic link")


def test_restore_refuses_a_symlinked_directory(made: Made, tmp_path: Path) -> None:
    backup = _copy(made.plain, tmp_path / "backup")
    index = backup / "index" / "kept"
    elsewhere = tmp_path / "elsewhere"
    shutil.move(index, elsewhere)  # same files, same checksums: only the link is wrong
    index.symlink_to(elsewhere, target_is_directory=True)
    _refused(tmp_path / "data", backup, "symbolic link")


def test_restore_refuses_a_manifest_path_that_leaves_the_backup(made: Made, tmp_path: Path) -> None:
    backup = _copy(made.plain, tmp_path / "backup")
    (tmp_path / "escaped").write_bytes(b"x")
    manifest = _manifest(backup)
    manifest.setdefault("files", {})["blobs/../../escaped"] = {
        "sha256": hashlib.sha256(b"x").hexdigest(),
        "size": 1,
    }
    _write_manifest(backup, manifest)
    _refused(tmp_path / "data", backup, "not a path inside the backup")


# -- keys and tokens a restore brings back --------------------------------------------------------


@contextmanager
def _api(data: Path) -> Iterator[TestClient]:
    """The restored service with auth on."""
    settings = Settings(
        data_dir=data,
        redis_url=redis_server.url(SERVICE_REDIS_DB),
        auth=True,
        start_generator=False,
        generator_url="http://127.0.0.1:9/v1",
        onnx_queries=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _me(client: TestClient, key: str) -> int:
    return client.get("/me", headers={"Authorization": f"Bearer {key}"}).status_code


def test_revoke_keys_leaves_no_old_key_working(made: Made, tmp_path: Path) -> None:
    kept, revoked = tmp_path / "kept", tmp_path / "revoked"
    same = cli(kept, "restore", str(made.keyed))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "admins: alice" in same.stdout and "API keys brought back: 2" in same.stdout
    done = cli(revoked, "restore", str(made.keyed), "--revoke-keys")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "revoked 2 API keys" in done.stdout
    fresh = next(w for w in done.stdout.split() if w.startswith("askd_"))
    with _api(kept) as client:  # without --revoke-keys the old keys work: the test can tell
        assert [_me(client, k) for k in made.keys.values()] == [200, 200]
    with _api(revoked) as client:
        assert [_me(client, k) for k in made.keys.values()] == [401, 401]
        r = client.get("/me", headers={"Authorization": f"Bearer {fresh}"})
        assert r.status_code == 200 and r.json()["user"] == "alice" and r.json()["admin"]


def test_without_the_key_the_token_is_dropped_and_comes_back_with_key_file(
    made: Made, tmp_path: Path
) -> None:
    bare, with_key = tmp_path / "bare", tmp_path / "with_key"
    done = cli(bare, "restore", str(made.plain))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 sources need their token again" in done.stdout and made.source_id in done.stdout
    kept_apart = tmp_path / "kept-apart.key"
    shutil.copy(made.data / "secret.key", kept_apart)
    again = cli(with_key, "restore", str(made.plain), "--key", str(kept_apart))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "need their token again" not in again.stdout

    with in_process(bare) as h:  # the restored service starts and says the token is gone
        src = h.client.get(f"/sources/{made.source_id}").json()
        assert src["has_token"] is False and src["enabled"] is False
        assert [d["name"] for d in h.documents("kept")] != []
    with in_process(with_key) as h:
        src = h.client.get(f"/sources/{made.source_id}").json()
        assert src["has_token"] is True and src["enabled"] is True
        with h.services.catalog.reader() as s:
            row = s.get(Source, made.source_id)
            assert row is not None and row.secret is not None
            vault = Vault(None, with_key / "secret.key")
            assert TOKEN in vault.open(row.secret)
