"""What a small text file costs an ingest process parsed in its parse child against in the process
itself (``ingest.parsing.PARSE_IN_PROCESS_BYTES``), with the worker's other per-document work around it.

    .venv/bin/python bench/parse_route.py [--files 300] [--rounds 2]

Makes ``--files`` small generated notes (as ``bench/ingest_throughput.py --generate``), loads the
ingest encoder as a worker does (onnxruntime, one thread), starts the parse server, then per round
parses, chunks and embeds every note once through the child and once in this process, and prints
the wall time, this process's CPU seconds and the parse server's and its children's CPU seconds.
The CPU sum is what the route costs the machine (on a busy machine every core is taken).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_throughput import generate  # noqa: E402

from core.settings import Settings  # noqa: E402
from ingest import parsing, sandbox  # noqa: E402
from ingest.chunking import chunk_blocks  # noqa: E402
from ingest.pipeline import ingest_embedder, parse_limits  # noqa: E402


def _cpu_of_tree(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children, with their reaped children."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, children)]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp) / "notes", args.files)
        files = sorted((Path(tmp) / "notes").rglob("*.txt"))
        settings = Settings(data_dir=Path(tmp) / "data")
        encoder = ingest_embedder(settings)
        encoder.load()
        encoder.enable_onnx()
        sandbox.warm(wait=True)
        parsing.warm()
        limits = parse_limits(settings)
        server = sandbox._SERVER.running().pid

        def one(path: Path, here: bool) -> None:
            if here:
                kind = parsing.in_process_kind(path, parsing.PARSE_IN_PROCESS_BYTES)
                assert kind is not None, path
                parsed = parsing.parse(path, path.name, ocr=False, kind=kind)
            else:
                parsed = sandbox.parse_isolated(path, path.name, limits)
            drafts = chunk_blocks(
                parsed.blocks,
                encoder.count_tokens,
                max_tokens=settings.chunk_tokens,
                overlap_tokens=settings.chunk_overlap,
            )
            encoder.embed([d.text for d in drafts])

        for round_ in range(args.rounds):
            for here in (False, True):
                wall, cpu, child = time.perf_counter(), time.process_time(), _cpu_of_tree(server)
                for path in files:
                    one(path, here)
                own = time.process_time() - cpu
                child = _cpu_of_tree(server) - child
                row = {
                    "round": round_ + 1,
                    "route": "in-process" if here else "child",
                    "files": len(files),
                    "wall_s": round(time.perf_counter() - wall, 2),
                    "process_cpu_s": round(own, 2),
                    "parse_server_cpu_s": round(child, 2),
                    "cpu_total_s": round(own + child, 2),
                }
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
