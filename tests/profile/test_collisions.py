"""`profile/collisions.py`: the bounded check finds exactly what the exact check over all files
finds, with the same messages."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.model import ResolvedFile
from osbundle.profile.collisions import CollisionCheck, collision_diagnostics, suspects_in_order
from tests.profile.helpers import spec

PARTS = st.sampled_from(["a", "A", "b", "a.", "a ", "é", "é", "c"])
PATHS = st.lists(st.lists(PARTS, min_size=1, max_size=3).map("/".join), max_size=12)


def resolved(n: int, path: str) -> ResolvedFile:
    entry = spec(Path("/p"), f"src{n % 3}", index=n % 3)
    return ResolvedFile(entry, f"/p/{n}", f"f{n}", f"custom/files/{path}", 0, 0, False)


@settings(max_examples=300, deadline=None)
@given(paths=PATHS, fold=st.booleans())
def test_the_bounded_check_reports_what_the_exact_check_reports(
    paths: list[str], fold: bool
) -> None:
    files = [resolved(n, p) for n, p in enumerate(paths)]
    check = CollisionCheck(fold)
    for rf in files:
        check.add(rf)
    shuffled = sorted(enumerate(files), key=lambda pair: pair[1].bundle_path)  # archive order
    picked = suspects_in_order(check, (((0, f"{n:04d}"), rf) for n, rf in shuffled))
    assert collision_diagnostics(picked, fold) == collision_diagnostics(files, fold)


def test_a_valid_tree_has_no_suspects() -> None:
    check = CollisionCheck(fold=True)
    for n in range(5000):
        check.add(resolved(n, f"d{n // 500}/f{n}.inf"))
    assert check.suspects() == set()
