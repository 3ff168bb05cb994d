"""A source's token at rest: sealed together with the one origin it was given for
(``https://host[:port]`` of the source's URL when it was set), so that it is only ever sent there.

A token stored before origins were kept (the sealed text is the bare token) is bound to the
source's current URL if that is https, and dropped otherwise.
"""

from __future__ import annotations

import json

from core.secrets import Vault
from sources.types import BoundToken, origin_of


class TokenRefused(ValueError):
    """A token that could not be sent safely with this source; the message says why."""


def origin_for_token(url: str) -> str:
    """The origin a token given with ``url`` is bound to; refused unless ``url`` is https."""
    if not url.lower().startswith("https://"):
        raise TokenRefused("a token is only sent over https: give the source an https:// URL")
    return origin_of(url)


def seal(vault: Vault, token: str, url: str) -> bytes:
    return vault.seal(json.dumps({"token": token, "origin": origin_for_token(url)}))


def unseal(vault: Vault, sealed: bytes, url: str) -> BoundToken | None:
    """The stored token and its origin (``SecretUnreadable`` when the server's key changed)."""
    text = vault.open(sealed)
    try:
        kept = json.loads(text)
    except ValueError:
        kept = None
    if isinstance(kept, dict) and isinstance(kept.get("token"), str):
        return BoundToken(kept["token"], str(kept.get("origin", "")))
    try:  # a bare token, stored before origins were kept
        return BoundToken(text, origin_for_token(url))
    except TokenRefused:
        return None
