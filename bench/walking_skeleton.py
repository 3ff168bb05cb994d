"""Walking-skeleton numbers: start-up to ready, upload-to-ready of a 10-page PDF, time to first token
and tokens/s of the default generator, peak RSS of each process.

    .venv/bin/python bench/walking_skeleton.py [--pdf FILE.pdf] [--pages 10]

With --pdf, its first --pages pages are used (e.g. a 10-Q from ../shared/data/sec-10q); otherwise a
10-page text PDF is generated. Starts its own `askdocs up` on free ports with a scratch data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from askdocs.supervisor import free_port

ROOT = Path(__file__).resolve().parent.parent


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def peak_rss(pid: int) -> tuple[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:90]
    return cmd, hwm // 1024


def make_pdf(path: Path, src: Path | None, pages: int) -> Path:
    if src is not None:
        from pypdf import PdfReader, PdfWriter

        reader, writer = PdfReader(str(src)), PdfWriter()
        for page in reader.pages[:pages]:
            writer.add_page(page)
        writer.write(path)
        return path
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for i in range(1, pages + 1):
        c.drawString(72, 780, f"Chapter {i}")
        for line in range(45):
            c.drawString(
                72,
                760 - 15 * line,
                f"Line {line} of page {i}: revenue in region {line % 7} "
                f"grew by {(i * line) % 13} percent over the quarter.",
            )
        c.showPage()
    c.save()
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pdf", type=Path)
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--question", default="How much did revenue grow?")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="askdocs-bench-"))
    api_port, ui_port, gen_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(data),
        "ASKDOCS_REDIS_URL": os.environ.get("ASKDOCS_REDIS_URL", "redis://127.0.0.1:6379/12"),
        "ASKDOCS_API_PORT": str(api_port),
        "ASKDOCS_API_URL": f"http://127.0.0.1:{api_port}",
        "ASKDOCS_UI_PORT": str(ui_port),
        "ASKDOCS_GENERATOR_URL": f"http://127.0.0.1:{gen_port}/v1",
    }
    log = data / "up.log"
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "askdocs"), "up"],
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while "askdocs is ready" not in log.read_text():
            if proc.poll() is not None:
                raise SystemExit(log.read_text())
            time.sleep(0.2)
        startup = time.monotonic() - t0
        while (
            found := re.search(r"First admin key \(shown once; keep it\): (\S+)", log.read_text())
        ) is None:
            time.sleep(0.1)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}",
            timeout=600,
            headers={"Authorization": f"Bearer {found.group(1)}"},
        )
        pdf = make_pdf(data / "bench.pdf", args.pdf, args.pages)
        t1 = time.monotonic()
        job = api.post("/documents", files=[("files", (pdf.name, pdf.read_bytes()))]).json()
        while not (state := api.get(f"/jobs/{job['id']}").json())["done"]:
            time.sleep(0.1)
        ingest_s = time.monotonic() - t1
        doc = state["documents"][0]

        t2 = time.monotonic()
        first = None
        n_tokens = 0
        answer, event = {}, ""
        with api.stream("POST", "/ask", json={"question": args.question}) as resp:
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if event == "token":
                        n_tokens += 1
                        first = first or time.monotonic()
                elif line.startswith("data:") and event == "done":
                    answer = json.loads(line[5:])
        total = time.monotonic() - t2
        ttft = (first or time.monotonic()) - t2
        gen_tps = (n_tokens - 1) / max(1e-9, total - ttft) if n_tokens > 1 else 0.0
        rss = [(f"{p} {cmd}", mb) for p in tree(proc.pid) for cmd, mb in [peak_rss(p)]]
        result = {
            "startup_to_ready_s": round(startup, 1),
            "pdf_pages": doc["pages"],
            "pdf_chunks": doc["chunks"],
            "pdf_status": doc["status"],
            "upload_to_ready_s": round(ingest_s, 1),
            "ask_time_to_first_token_s": round(ttft, 2),
            "ask_stream_pieces": n_tokens,
            "generation_tokens_per_s": round(gen_tps, 1),
            "ask_total_s": round(total, 2),
            "answer": answer.get("answer"),
            "cited": [(c["document_name"], c["page"]) for c in answer.get("citations", [])],
            "peak_rss_mb": {cmd: mb for cmd, mb in rss},
        }
        print(json.dumps(result, indent=2))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=90)


if __name__ == "__main__":
    main()
