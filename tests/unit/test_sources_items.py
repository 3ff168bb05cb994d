"""The compact key set a sync run keeps of the origins it listed (sources.items.Keys), and the
paging of a listing's entries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sources.items import Keys, item_key, pages

pytestmark = pytest.mark.unit


def test_keys_hold_what_was_added_and_nothing_else() -> None:
    keys = Keys()
    for i in range(2_000):
        keys.add(item_key(f"folder/note{i}.txt"))
    assert all(item_key(f"folder/note{i}.txt") in keys for i in range(2_000))
    assert not any(item_key(f"folder/other{i}.txt") in keys for i in range(2_000))
    keys.add(item_key("added/after/a/lookup.txt"))  # adding after a lookup still counts
    assert item_key("added/after/a/lookup.txt") in keys and len(keys) == 2_001
    assert 42 not in keys


def test_keys_take_eight_bytes_each() -> None:
    keys = Keys()
    for i in range(10_000):
        keys.add(item_key(str(i)))
    assert item_key("0") in keys
    assert keys._values.itemsize == 8 and len(keys._values) == 10_000


def test_pages_take_entries_only_when_asked() -> None:
    taken: list[int] = []

    def entries() -> Iterator[int]:
        for i in range(7):
            taken.append(i)
            yield i

    listing = pages(entries(), 3)
    assert next(listing) == [0, 1, 2] and taken == [0, 1, 2]
    assert list(listing) == [[3, 4, 5], [6]]
