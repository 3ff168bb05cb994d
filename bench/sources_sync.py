"""Sync one real-sized source of each kind through the whole stack and print what each run did.

    .venv/bin/python bench/sources_sync.py --corpus ../shared/data/scifact \\
        [--files 1000] [--pages 300] [--git-files 300]

Builds, from a BEIR corpus (one document per record): a folder of ``--files`` text files; a local
website of ``--pages`` HTML pages (a start page, section pages, leaf pages) served by Python's
http.server (it answers If-Modified-Since with 304); a git repository of ``--git-files`` Markdown
files. Then, against `askdocs up` (no generator): add each source (its first sync), wait until its
documents are searchable, sync again unchanged, change 1% and delete 1% of the files, sync again.
Prints, per kind and run: the run's own time (listing, fetching, queueing; from the run's record),
the time until every document is ready or gone (first and changed runs), and the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import running_stack  # noqa: E402
from client.http import ApiClient  # noqa: E402

COUNTS = ("listed", "new", "changed", "unchanged", "renamed", "deleted", "failed")


def records(corpus: Path, n: int, skip: int = 0) -> list[dict]:
    out = []
    with (corpus / "corpus.jsonl").open() as f:
        for i, line in enumerate(f):
            if i < skip:
                continue
            out.append(json.loads(line))
            if len(out) == n:
                break
    return out


def make_folder(root: Path, docs: list[dict]) -> None:
    for i, d in enumerate(docs):
        sub = root / f"section-{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{d['_id']}.txt").write_text(f"{d['title']}\n\n{d['text']}\n")


def _html(title: str, body: str, links: list[str] = ()) -> str:  # type: ignore[assignment]
    items = "".join(f'<li><a href="{h}">{h}</a></li>' for h in links)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
        f"<p>{body}</p><ul>{items}</ul></body></html>"
    )


def make_site(root: Path, docs: list[dict], sections: int = 10) -> None:
    root.mkdir(parents=True, exist_ok=True)
    names = [f"s{i}.html" for i in range(sections)]
    (root / "index.html").write_text(_html("Documentation", "Start page.", names))
    per = -(-len(docs) // sections)
    for i, name in enumerate(names):
        part = docs[i * per : (i + 1) * per]
        (root / name).write_text(
            _html(f"Section {i}", f"Section {i}.", [f"p/{d['_id']}.html" for d in part])
        )
    (root / "p").mkdir(exist_ok=True)
    for d in docs:
        (root / "p" / f"{d['_id']}.html").write_text(_html(d["title"], d["text"]))


def git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.org",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.org",
    }
    subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)


def make_repo(work: Path, bare: Path, docs: list[dict]) -> None:
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for i, d in enumerate(docs):
        sub = work / "docs" / f"topic-{i % 15:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{d['_id']}.md").write_text(f"# {d['title']}\n\n{d['text']}\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "docs")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)


def wait_run(api: ApiClient, sid: str, run_id: str) -> dict:
    while True:
        run = next(r for r in api.source_runs(sid, 50) if r["id"] == run_id)
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.2)  # polling the API: a bench, not a test


def wait_settled(api: ApiClient, collection: str) -> None:
    while True:
        docs = api.documents(collection, limit=10_000)
        if docs and all(d["status"] in ("ready", "failed") for d in docs):
            return
        time.sleep(0.5)


def documents(api: ApiClient, collection: str) -> list[dict]:
    return api.documents(collection, limit=10_000)


def measure(api: ApiClient, kind: str, config: dict, change) -> list[dict]:  # type: ignore[no-untyped-def]
    rows = []
    collection = f"bench-{kind}"
    t0 = time.monotonic()
    src = api.add_source(
        {"collection": collection, "name": kind, "kind": kind, "config": config, "sync_now": True}
    )
    sid = src["id"]
    first_id = api.source_runs(sid, 1)[0]["id"]
    run = wait_run(api, sid, first_id)
    wait_settled(api, collection)
    ready = time.monotonic() - t0
    rows.append({"kind": kind, "run": "first", **run, "until_ready_s": round(ready, 1)})
    again = wait_run(api, sid, api.sync_source(sid)["id"])
    rows.append({"kind": kind, "run": "unchanged re-sync", **again, "until_ready_s": None})
    change()
    t0 = time.monotonic()
    changed = wait_run(api, sid, api.sync_source(sid)["id"])
    wait_settled(api, collection)
    rows.append(
        {
            "kind": kind,
            "run": "1% changed, 1% deleted",
            **changed,
            "until_ready_s": round(time.monotonic() - t0, 1),
        }
    )
    live = [d for d in documents(api, collection) if d["status"] == "ready"]
    rows[-1]["ready_after"] = len(live)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="A BEIR dir with corpus.jsonl")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--git-files", type=int, default=300)
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="askdocs-sources-bench-"))
    folder_docs = records(args.corpus, args.files)
    site_docs = records(args.corpus, args.pages, skip=args.files)
    git_docs = records(args.corpus, args.git_files, skip=args.files + args.pages)
    make_folder(scratch / "folder", folder_docs)
    make_site(scratch / "site", site_docs)
    make_repo(scratch / "repo", scratch / "repo.git", git_docs)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

    handler = partial(Quiet, directory=str(scratch / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"scratch: {scratch}; site at {site}", flush=True)

    def touch_some(paths: list[Path]) -> None:
        n = max(1, len(paths) // 100)
        for p in paths[:n]:
            p.write_text(p.read_text() + "\nRevised.\n")
        for p in paths[n : 2 * n]:
            p.unlink()

    def change_folder() -> None:
        touch_some(sorted((scratch / "folder").rglob("*.txt")))

    def change_site() -> None:
        time.sleep(1.1)  # Last-Modified has one-second resolution: a change must show in it
        touch_some(sorted((scratch / "site" / "p").glob("*.html")))

    def change_repo() -> None:
        work = scratch / "repo"
        touch_some(sorted(work.rglob("*.md")))
        git(work, "add", "-A")
        git(work, "commit", "-qm", "revise")
        git(work, "push", "-q", str(scratch / "repo.git"), "main")

    rows: list[dict] = []
    with running_stack(
        scratch / "data", sources_private_hosts="127.0.0.1", sources_folder_roots=str(scratch)
    ) as api:
        rows += measure(api, "folder", {"path": str(scratch / "folder")}, change_folder)
        rows += measure(
            api,
            "web",
            {"url": site + "/index.html", "max_depth": 2, "max_pages": 5000},
            change_site,
        )
        rows += measure(api, "git", {"url": str(scratch / "repo.git")}, change_repo)
    server.shutdown()
    head = ["kind", "run", "run_s", "until_ready_s", *COUNTS]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for r in rows:
        cells = [r["kind"], r["run"], f"{r['duration_s']:.2f}", r["until_ready_s"] or "-"]
        cells += [r[k] for k in COUNTS]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    for r in rows:
        if r.get("failures"):
            print(r["kind"], r["run"], "failures:", r["failures"][:5])


if __name__ == "__main__":
    main()
