"""One large upload against one API process: how much its memory grows, and how /health answers
meanwhile.

    python bench/upload_memory.py [MB] [--health-every 0.05]

Starts the API alone (uvicorn, one process, a scratch data dir, no auth, no generator; the broker
is ``ASKDOCS_REDIS_URL`` or ``redis://127.0.0.1:6379/12``, only written to), writes a file of MB
mebibytes of random bytes (default 1024), and uploads it with curl while one caller asks /health
in a loop. Prints one JSON object: the API process's resident memory before, its peak during the
upload (VmHWM, reset just before it: /proc/PID/clear_refs) and the growth, the upload's status
and time, and /health p50/p99 idle and during the upload.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from askdocs.supervisor import free_port

ROOT = Path(__file__).resolve().parent.parent
PIECE = 1 << 20


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak(pid: int) -> None:
    """The process's peak resident size (VmHWM) starts again from its current size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _health_times(url: str, stop: threading.Event, every: float, out: list[float]) -> None:
    """Ask /health until ``stop``, one call at a time, ``every`` seconds apart; times in ms."""
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            r = client.get(url)
            took = (time.perf_counter() - started) * 1000
            if r.status_code == 200:
                out.append(took)
            stop.wait(every)


def _summary(times: list[float]) -> dict[str, float | int]:
    if not times:
        return {"calls": 0}
    return {
        "calls": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(_percentile(times, 0.99), 1),
        "max_ms": round(max(times), 1),
    }


def _write_file(path: Path, mb: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(PIECE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mb", nargs="?", type=int, default=1024, help="Size of the upload, MiB.")
    parser.add_argument("--health-every", type=float, default=0.05, help="Seconds between calls.")
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="askdocs-upload-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(scratch / "data"),
        "ASKDOCS_REDIS_URL": os.environ.get("ASKDOCS_REDIS_URL", "redis://127.0.0.1:6379/12"),
        "ASKDOCS_AUTH": "false",
        "ASKDOCS_START_GENERATOR": "false",
        "ASKDOCS_GENERATOR_URL": f"http://127.0.0.1:{free_port()}/v1",
        "ASKDOCS_MAX_UPLOAD_BYTES": str((args.mb + 1) * PIECE),
        "ASKDOCS_MAX_REQUEST_BYTES": str((args.mb + 2) * PIECE),
        "ASKDOCS_RATE_LIMIT_PER_ADDRESS": "1000000",
    }
    base = f"http://127.0.0.1:{port}"
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_env"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=(scratch / "api.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while True:  # the API answers once its start-up is done
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if api.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((scratch / "api.log").read_text()[-3000:])
            time.sleep(0.2)
        upload = scratch / "large.bin"
        _write_file(upload, args.mb)

        idle: list[float] = []
        stop = threading.Event()
        caller = threading.Thread(
            target=_health_times, args=(f"{base}/health", stop, args.health_every, idle)
        )
        caller.start()
        time.sleep(args.idle_seconds)  # idle /health times for this long
        stop.set()
        caller.join()

        rss_before = _status_kb(api.pid, "VmRSS")
        _reset_peak(api.pid)
        loaded: list[float] = []
        stop = threading.Event()
        caller = threading.Thread(
            target=_health_times, args=(f"{base}/health", stop, args.health_every, loaded)
        )
        caller.start()
        started = time.perf_counter()
        sent = subprocess.run(
            ["curl", "-sS", "-o", str(scratch / "answer.json"), "-w", "%{http_code}"]
            + ["-F", f"files=@{upload};type=application/octet-stream", "-F", "collection=bench"]
            + [f"{base}/documents"],
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - started
        stop.set()
        caller.join()
        peak = _status_kb(api.pid, "VmHWM")
        answer = json.loads((scratch / "answer.json").read_text() or "{}")
        stored = (answer.get("documents") or [{}])[0]
        print(
            json.dumps(
                {
                    "upload_mb": args.mb,
                    "status": sent.stdout.strip(),
                    "stored_bytes": stored.get("size_bytes"),
                    "upload_seconds": round(took, 1),
                    "api_rss_before_mb": round(rss_before / 1024, 1),
                    "api_peak_rss_during_mb": round(peak / 1024, 1),
                    "api_rss_growth_mb": round((peak - rss_before) / 1024, 1),
                    "health_idle": _summary(idle),
                    "health_during_upload": _summary(loaded),
                },
                indent=2,
            )
        )
    finally:
        api.terminate()
        api.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
