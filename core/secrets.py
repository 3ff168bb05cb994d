"""Secrets at rest (source credentials): Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``,
the one module that imports it. The key is the ``secret_key`` setting, or a random one kept in
``DATA_DIR/secret.key`` (made on first use, mode 600, shared by processes on one data dir)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretUnreadable(RuntimeError):
    """A stored secret does not open with this server's key (the key changed)."""


def _key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key


class Vault:
    def __init__(self, secret_key: str | None, key_file: Path) -> None:
        if secret_key:  # any string: stretched to a Fernet key
            key = base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest())
        else:
            key = _key_file(key_file)
        self._fernet = Fernet(key)

    def seal(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as e:
            raise SecretUnreadable(
                "a stored credential does not open with this server's key (ASKDOCS_SECRET_KEY or "
                "DATA_DIR/secret.key changed): set the source's token again"
            ) from e
