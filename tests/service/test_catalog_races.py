"""Two processes making the same collection at once (two API replicas starting on one PostgreSQL
catalog, two first uploads to a new name): neither fails, one row is made."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.catalog import Catalog, Collection
from tests.pg import fresh_database

pytestmark = pytest.mark.service


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()
        yield cat
        cat.engine.dispose()
        return
    with fresh_database("askdocs_races") as url:
        cat = Catalog(url).create()
        yield cat
        cat.engine.dispose()


def test_the_same_collection_made_at_once_twice_is_one_row(catalog: Catalog) -> None:
    made_first = threading.Event()
    results: dict[str, str | None] = {}
    errors: list[BaseException] = []

    def second() -> None:
        try:
            made_first.wait(10)
            with catalog.session() as s:  # waits on the first one's uncommitted row
                results["second"] = catalog.ensure_collection(s, "shared", owner=None).owner_id
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    other = threading.Thread(target=second)
    other.start()
    with catalog.session() as s:
        # both saw no row: the first inserts and holds its transaction open a moment
        assert s.get(Collection, "shared") is None
        results["first"] = catalog.ensure_collection(s, "shared").owner_id
        made_first.set()
        other.join(0.5)  # the second is blocked (PostgreSQL) or not yet begun (SQLite)
    other.join(30)
    assert not other.is_alive()
    assert errors == []
    assert results == {"first": None, "second": None}
    with catalog.reader() as s:
        assert s.scalar(select(func.count()).select_from(Collection)) == 1
