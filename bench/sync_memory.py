"""What a folder source's sync run holds in memory as the source grows.

    .venv/bin/python bench/sync_memory.py [--files 1000 4000] [--page-size 500] [--module PATH]

For each size: a folder of that many small text files, a source on it in a fresh SQLite catalog,
then a first run (every file new) and an unchanged run (every file listed, none read), each run by
``sources.sync.run`` in this process (the documents it queues are not ingested). Prints each run's
peak of Python allocations while it ran (tracemalloc: the run's own objects, not the process's
RSS) and its time; then, between the smallest and largest size, the bytes per file.
``--module`` measures another copy of ``sources/sync.py`` (say, an older one from git) instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.blobs import BlobStore  # noqa: E402
from core.catalog import Catalog, Source  # noqa: E402
from core.secrets import Vault  # noqa: E402
from core.settings import Settings  # noqa: E402
from sources import sync as current  # noqa: E402
from sources.config import FolderConfig  # noqa: E402


def _module(path: Path | None) -> ModuleType:
    if path is None:
        return current
    spec = importlib.util.spec_from_file_location("sources.sync_measured", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _folder(root: Path, n: int) -> None:
    for i in range(n):
        d = root / f"d{i // 500:03}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"note{i:06}.txt").write_text(f"Note {i} records the ferry of pier {i}.")


def _measure(
    sync: ModuleType, ctx: object, catalog: Catalog, source_id: str
) -> tuple[float, float]:
    """(peak MiB, seconds) of one run of the source."""
    with catalog.session() as s:
        src = s.get(Source, source_id)
        run_id = sync.queue_run(s, src, "bench").id
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    out = sync.run(ctx, run_id)
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert out.status == "done", out
    return peak / 2**20, took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--page-size", type=int, default=current.PAGE_ITEMS)
    ap.add_argument("--module", type=Path, help="another copy of sources/sync.py to measure")
    args = ap.parse_args(argv)
    sync = _module(args.module)
    print(f"sync module: {args.module or 'sources/sync.py'}, page size {args.page_size}")
    print("| files | first run peak MiB | first run s | unchanged run peak MiB | unchanged run s |")
    print("|---|---|---|---|---|")
    peaks: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # a first small source loads what a run loads once (modules, libmagic): not per file
        for n in [10, *sorted(args.files)]:
            root = Path(tmp) / f"share-{n}"
            _folder(root, n)
            settings = Settings(
                data_dir=Path(tmp) / f"data-{n}", auth=False, sources_folder_roots=tmp
            )
            settings.data_dir.mkdir(parents=True)
            catalog = Catalog(settings.catalog_url).create()
            source_id = str(uuid.uuid4())
            with catalog.session() as s:
                catalog.ensure_collection(s, "bench")
                s.add(
                    Source(
                        id=source_id,
                        collection_id="bench",
                        name="share",
                        kind="folder",
                        config=FolderConfig(path=str(root)).model_dump_json(),
                        enabled=False,
                    )
                )
            extra = {"page_size": args.page_size} if args.module is None else {}
            ctx = sync.SyncContext(
                settings=settings,
                catalog=catalog,
                blobs=BlobStore(settings.blob_dir),
                vault=Vault(settings.secret_key, settings.data_dir / "secret.key"),
                enqueue=lambda _task, _ids: None,
                **extra,
            )
            first, first_s = _measure(sync, ctx, catalog, source_id)
            again, again_s = _measure(sync, ctx, catalog, source_id)
            if n == 10 and 10 not in args.files:
                continue  # the warm-up
            peaks[n] = (first, again)
            print(f"| {n} | {first:.1f} | {first_s:.1f} | {again:.1f} | {again_s:.1f} |")
            catalog.engine.dispose()
    small, large = min(peaks), max(peaks)
    if large > small:
        per = [(peaks[large][i] - peaks[small][i]) * 2**20 / (large - small) for i in (0, 1)]
        print(
            f"\nper file ({small} -> {large}): first run {per[0]:.0f} B, unchanged {per[1]:.0f} B"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
