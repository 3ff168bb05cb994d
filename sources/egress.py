"""What the web and git connectors share about going out: the token bound to its origin, error text
with the token scrubbed out, and the run's deadline."""

from __future__ import annotations

import base64
import re
import time
from urllib.parse import urlsplit

from sources.types import BoundToken, origin_of

DEADLINE_PASSED = "the run passed its deadline"
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def bind(token: BoundToken | str | None, url: str) -> BoundToken | None:
    """A token as the connectors use it: a plain string is bound to ``url``'s origin when that is
    https, and dropped otherwise (it would cross the network in clear)."""
    if token is None or isinstance(token, BoundToken):
        return token
    if not token or urlsplit(url).scheme.lower() != "https":
        return None
    return BoundToken(token, origin_of(url))


def scrub(text: str, token: BoundToken | None) -> str:
    """``text`` without the token (as written, and as Basic credentials) or any URL's userinfo."""
    text = _USERINFO.sub("***@", text)
    if token is not None and token.value:
        basic = base64.b64encode(f"x-access-token:{token.value}".encode()).decode()
        for form in (token.value, basic, repr(token.value)[1:-1], repr(token.value.encode())[2:-1]):
            text = text.replace(form, "***")
    return text


def remaining(deadline: float | None, cap: float) -> float:
    """Seconds a network wait may last: ``cap``, or less when the deadline is nearer; 0 past it."""
    if deadline is None:
        return cap
    return max(0.0, min(cap, deadline - time.monotonic()))


def passed(deadline: float | None) -> bool:
    """Whether ``deadline`` (a ``time.monotonic()`` value) has passed."""
    return deadline is not None and time.monotonic() >= deadline
