"""Network guard for the test suite, loaded into every Python process the tests start (PYTHONPATH).

Any attempt to resolve or connect to a non-local address is written to $ASKDOCS_NETGUARD_LOG and
refused; the suite fails at the end if the log is not empty.
"""

from __future__ import annotations

import ipaddress
import os
import sys

_LOG = os.environ.get("ASKDOCS_NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host)
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback or host in ("0.0.0.0", "::")
    except ValueError:
        return False


def _record(what: str) -> None:
    with open(_LOG, "a") as f:  # type: ignore[arg-type]
        f.write(f"{os.getpid()} {' '.join(sys.argv)[:200]}: {what}\n")


def _hook(event: str, args: tuple) -> None:
    if event == "socket.connect":
        addr = args[1]
        if isinstance(addr, tuple) and not _is_local(addr[0]):
            _record(f"connect {addr}")
            raise OSError(f"askdocs test network guard: connection to {addr} refused")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if not _is_local(host):
            _record(f"resolve {host}")
            raise OSError(f"askdocs test network guard: lookup of {host} refused")


if _LOG:
    sys.addaudithook(_hook)
