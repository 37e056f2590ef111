"""`profile/spill.py`: record files read by position, and the external sort, against sorted()."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.profile import spill
from osbundle.profile.spill import Codec, RecordFile, Sorter, first_of_each

Item = tuple[str, int]
CODEC: Codec[Item] = Codec(lambda item: item, lambda record: (record[0], record[1]))
KEYS = st.text(st.characters(exclude_categories=["Cs"]), max_size=4)


def key(item: Item) -> str:
    return item[0]


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(KEYS, max_size=200), run_items=st.integers(1, 40))
def test_the_sort_is_sorted_and_stable_whatever_the_runs(keys: list[str], run_items: int) -> None:
    items = [(k, n) for n, k in enumerate(keys)]
    sorter = Sorter(key, CODEC, None, run_items)
    for item in items:
        sorter.add(item)
    expected = sorted(items, key=key)  # stable: equal keys in the order added
    assert list(sorter) == expected
    assert list(sorter) == expected  # read again
    frozen = sorter.freeze()
    try:
        assert len(frozen) == len(items)
        assert list(frozen) == expected
        for start in range(0, len(items) + 1, 7):
            assert list(frozen.span(start, start + 9)) == expected[start : start + 9]
    finally:
        frozen.close()


@settings(max_examples=30, deadline=None)
@given(keys=st.lists(KEYS, max_size=120), run_items=st.integers(1, 30))
def test_items_that_come_in_order_are_kept_as_they_came(keys: list[str], run_items: int) -> None:
    items = [(k, n) for n, k in enumerate(sorted(keys))]
    sorter = Sorter(key, CODEC, None, run_items)
    for item in items:
        sorter.add(item)
    frozen = sorter.freeze()
    assert list(frozen) == items
    frozen.close()


def test_first_of_each_keeps_the_first_added() -> None:
    sorter = Sorter(key, CODEC, None, 2)
    for item in [("b", 0), ("a", 1), ("b", 2), ("a", 3), ("c", 4)]:
        sorter.add(item)
    assert list(first_of_each(iter(sorter), key)) == [("a", 1), ("b", 0), ("c", 4)]
    sorter.close()


@given(count=st.integers(0, 3 * spill.CHUNK), start=st.integers(0, 3 * spill.CHUNK))
@settings(max_examples=40, deadline=None)
def test_a_record_file_reads_any_span(count: int, start: int) -> None:
    records: RecordFile[Item] = RecordFile(CODEC)
    try:
        items = [(str(n), n) for n in range(count)]
        for n, item in enumerate(items):
            records.append(item)
            if n % 97 == 0:
                records.finish()  # partial chunks in the middle
        assert list(records.span(start, start + 600)) == items[start : start + 600]
        assert list(records) == items
    finally:
        records.close()


def test_a_record_file_is_read_in_a_forked_process(tmp_path: Path) -> None:
    records: RecordFile[Item] = RecordFile(CODEC, tmp_path)
    for n in range(2000):
        records.append((f"k{n}", n))
    records.finish()
    assert os.listdir(tmp_path) == []  # unlinked: no name to plant or leave behind
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what the readers do after fork
        try:
            got: Any = list(records.span(1500, 1503))
            os.write(write, repr(got).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1000) == repr([("k1500", 1500), ("k1501", 1501), ("k1502", 1502)]).encode()
    os.close(read)
    records.close()
