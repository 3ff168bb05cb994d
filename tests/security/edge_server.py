"""A real API process for the edge's attacks and bench: uvicorn on the real app factory over a
scratch data dir (SQLite catalog, the machine's Redis), with a small OpenAI-style generator on
loopback that counts the requests it gets, or one that hangs."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from askdocs.supervisor import free_port

KEY_LINE = re.compile(r"first admin key \(shown once\): (askd_\S+)")
BOUNDARY = "edge-attack"


class FakeGenerator:
    """``GET /v1/models`` on loopback: counts requests, the most at once, and can be made slow
    (``delay_s``) to stand for a generator that hangs."""

    def __init__(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._release = threading.Event()  # never set: a bounded wait, the generator's slowness
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with fake._lock:
                    fake.requests += 1
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    if fake.delay_s:
                        fake._release.wait(fake.delay_s)
                    body = json.dumps(
                        {
                            "object": "list",
                            "data": [
                                {"id": "fake", "object": "model", "created": 0, "owned_by": "t"}
                            ],
                        }
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGenerator:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class HangingGenerator:
    """A loopback port for a generator: refused (as a generator that is down) until ``hang()``,
    then taking every connection and never answering nor reading, so that whatever asks it waits
    for its own timeout. Counts the connections it took."""

    def __init__(self) -> None:
        self.connections = 0
        self._held: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))  # the port is kept; refused while not listening
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def hang(self) -> None:
        self._listener.listen(1024)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed on exit
                return
            self._held.append(conn)
            self.connections += 1

    def __enter__(self) -> HangingGenerator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._listener.close()
        for conn in self._held:
            conn.close()


@dataclass
class EdgeServer:
    url: str
    port: int
    pid: int
    admin_key: str
    data_dir: Path
    log: Path

    def rss_bytes(self) -> int:
        """The API process's resident memory now (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextmanager
def edge_server(
    data: Path, redis_url: str, generator_url: str, **settings: str
) -> Iterator[EdgeServer]:
    """uvicorn with ``api.app:app_from_env`` over ``data`` (``settings``: more ASKDOCS_ variables,
    lower-case names without the prefix); stopped (SIGINT, as Ctrl-C) on exit."""
    port = free_port()
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(data),
        "ASKDOCS_REDIS_URL": redis_url,
        "ASKDOCS_GENERATOR_URL": generator_url,
        "ASKDOCS_ONNX_QUERIES": "false",
        "ASKDOCS_LOG_FORMAT": "text",
        **{f"ASKDOCS_{k.upper()}": v for k, v in settings.items()},
    }
    data.mkdir(parents=True, exist_ok=True)
    log = data / "api.log"
    argv = [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_env"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        key = None
        while key is None:
            if proc.poll() is not None:
                raise AssertionError(f"the API exited {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the API did not start:\n{log.read_text()}")
            found = KEY_LINE.search(log.read_text())
            if found and _answers(url):
                key = found.group(1)
            else:
                time.sleep(0.2)
        yield EdgeServer(url, port, proc.pid, key, data, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(url: str) -> bool:
    """Whether the API serves requests: its docs page (open, and without /health's wait for a
    first check, which a hanging generator would make as long as the check's timeout)."""
    try:
        return httpx.get(url + "/docs", timeout=30).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class Streamed:
    """What became of a large body streamed at the API."""

    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # bytes of the body the client got out before the answer came (or the socket shut)


def stream_post(
    port: int, path: str, total: int, headers: dict[str, str], timeout_s: float = 60
) -> Streamed:
    """POST a well-formed upload form of ``total`` bytes (one file) to ``path`` over a raw socket,
    writing only while no answer has come: how much an attacker gets the server to take before
    it says no."""
    opening = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    closing = f"\r\n--{BOUNDARY}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **headers}
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {total}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    filler = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(head.encode())
        sock.setblocking(False)
        deadline = time.monotonic() + timeout_s
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer after {sent} bytes")
            if not writable:
                continue
            if sent < len(opening):
                piece = opening[sent:]
            elif total - sent <= len(closing):
                piece = closing[len(closing) - (total - sent) :]
            else:
                piece = filler[: total - sent - len(closing)]
            try:
                sent += sock.send(piece)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        sock.settimeout(timeout_s)
        raw = b""
        while b"\r\n\r\n" not in raw:
            part = sock.recv(65536)
            if not part:
                break
            raw += part
        head_bytes, _, body = raw.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        got = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            got[name.strip().lower()] = value.strip()
        length = int(got.get("content-length", "0"))
        while len(body) < length:
            part = sock.recv(65536)
            if not part:
                break
            body += part
    return Streamed(status, got, body, sent)
