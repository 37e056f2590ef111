"""Collisions between bundle paths: two files on one path, or a file where another file needs
a directory, in bounded memory.

`collision_diagnostics` compares every path with all before it: exact, but it keeps every path.
A profile of a million files is checked in two steps instead. `CollisionCheck` keeps an 8-byte
hash of each file's collision key and of each directory above it, in 64 arrays split by hash;
each array is then checked with a set of its own (a 64th of the hashes at a time). Only the
files whose key or directories fall on a repeated hash, a handful, or none in a valid profile,
are read again and given to `collision_diagnostics` in entry order: the messages are the ones
the exact check makes over all the files, since every file on a colliding path or below it is
among them (tests/profile/test_collisions.py checks this against the whole list).
"""

from __future__ import annotations

import unicodedata
from array import array
from collections.abc import Iterable, Iterator

import xxhash

from osbundle import names
from osbundle.diagnostics import Diagnostic, format_doc_path
from osbundle.model import ResolvedFile

BUCKETS = 64


class CollisionCheck:
    """Takes every resolved file of a profile (`add`); `suspects` are the hashes of the
    collision keys and directories that more than one file lands on as a file or on as a
    file and a directory, a superset of the real collisions (hashes may collide)."""

    def __init__(self, fold: bool) -> None:
        self.fold = fold
        self._files = [array("Q") for _ in range(BUCKETS)]
        self._dirs = [array("Q") for _ in range(BUCKETS)]
        self._parent: str | None = None  # the last file's directory: its ancestors are in

    def add(self, rf: ResolvedFile) -> None:
        key = collision_key(rf.bundle_path, self.fold)
        h = _hash(key)
        self._files[h % BUCKETS].append(h)
        cut = key.rfind("/")
        if cut <= 0 or key[:cut] == self._parent:  # files come a directory at a time
            return
        self._parent = key[:cut]
        while cut > 0:
            d = _hash(key[:cut])
            self._dirs[d % BUCKETS].append(d)
            cut = key.rfind("/", 0, cut)

    def suspects(self) -> set[int]:
        found: set[int] = set()
        for files, dirs in zip(self._files, self._dirs, strict=True):
            seen: set[int] = set()
            for h in files:
                if h in seen:
                    found.add(h)
                seen.add(h)
            found.update(h for h in dirs if h in seen)
        return found

    def involved(self, rf: ResolvedFile, suspects: set[int]) -> bool:
        """Whether `rf`'s key or one of its directories is a suspect."""
        key = collision_key(rf.bundle_path, self.fold)
        if _hash(key) in suspects:
            return True
        cut = key.rfind("/")
        while cut > 0:
            if _hash(key[:cut]) in suspects:
                return True
            cut = key.rfind("/", 0, cut)
        return False


def _hash(key: str) -> int:
    return xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass"))


def suspects_in_order(
    check: CollisionCheck, files: Iterable[tuple[tuple[int, str], ResolvedFile]]
) -> Iterator[ResolvedFile]:
    """The files (given with their place in entry order) that may collide, in that order."""
    suspects = check.suspects()
    if not suspects:
        return iter(())
    picked = [(n, rf) for n, rf in files if check.involved(rf, suspects)]
    return (rf for _, rf in sorted(picked, key=lambda pair: pair[0]))


def collision_key(bundle_path: str, fold: bool) -> str:
    """Bundle paths equal under this key collide; Windows compares them as `names.windows_key`
    (NFC-normalised, case-folded, trailing dots and spaces stripped)."""
    return names.windows_key(bundle_path) if fold else bundle_path


def collision_diagnostics(files: Iterable[ResolvedFile], fold: bool) -> list[Diagnostic]:
    """Two files on one path, or a file on a path another file needs as a directory: the exact
    check, over files in entry order."""
    seen: dict[str, ResolvedFile] = {}
    directories: dict[str, ResolvedFile] = {}  # a directory's key -> the first file below it
    out: list[Diagnostic] = []
    for rf in files:
        key = collision_key(rf.bundle_path, fold)
        cut = key.rfind("/")
        fresh = key not in seen and key not in directories
        if fresh and (cut <= 0 or key[:cut] in directories):
            seen[key] = rf  # the common case: a new file in a known directory
            continue
        message = _collision(rf, key, seen, directories)
        if message is not None:
            out.append(rf_diagnostic(rf, message))
            continue
        seen[key] = rf
        while cut > 0 and key[:cut] not in directories:
            directories[key[:cut]] = rf
            cut = key.rfind("/", 0, cut)
    return out


def _collision(
    rf: ResolvedFile, key: str, seen: dict[str, ResolvedFile], directories: dict[str, ResolvedFile]
) -> str | None:
    """What `rf` collides with among the files before it (`seen` and `directories` are
    disjoint: a path taken by a file is no directory, and the other way round)."""
    first = seen.get(key)
    if first is not None:
        how = _how(rf.bundle_path, first.bundle_path)
        return f"{_lands(rf)} collides{how} with {first.rel_source!r} from {_where(first)}"
    below = directories.get(key)
    if below is not None:
        how = _how(rf.bundle_path, _head(below.bundle_path, rf.bundle_path.count("/") + 1))
        holding = f"holding {below.rel_source!r} from {_where(below)}"
        return f"{_lands(rf)} is also a directory{how}, {holding}"
    parent = key
    while (cut := parent.rfind("/")) > 0 and parent[:cut] not in directories:
        parent = parent[:cut]
        file = seen.get(parent)
        if file is not None:
            how = _how(_head(rf.bundle_path, parent.count("/") + 1), file.bundle_path)
            inside = f"inside{how} the file {file.rel_source!r}"
            return f"{_lands(rf)} is {inside} from {_where(file)}"
    return None


def _lands(rf: ResolvedFile) -> str:
    return f"{rf.rel_source!r} lands at {rf.bundle_path!r}, which"


def _how(path: str, other: str) -> str:
    """How two colliding paths differ, for the message ("" when they are equal)."""
    if path == other:
        return ""
    if (
        unicodedata.normalize("NFC", path).casefold()
        == unicodedata.normalize("NFC", other).casefold()
    ):
        return " (ignoring case)"
    return " (as Windows compares names, trailing dots and spaces stripped)"


def _head(path: str, components: int) -> str:
    return "/".join(path.split("/")[:components])


def _where(rf: ResolvedFile) -> str:
    return format_doc_path(rf.spec.yaml_path)


def rf_diagnostic(rf: ResolvedFile, message: str) -> Diagnostic:
    """A problem of `rf`, located at its entry's `source`."""
    pos = rf.spec.position
    file, line, col = (str(pos.file), pos.line, pos.col) if pos else ("", 1, 1)
    return Diagnostic(file, line, col, rf.spec.yaml_path, message)
