"""The per-file values of a profile as plain tuples, for the spill files (profile/spill.py).

What points at a shared object is written as an index: a file's folder into the profile's
FolderTable (one Folder per directory walked; the readers' cache is keyed by its identity, so
a decoded file must get the very same object back), an entry into the profile's entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from osbundle.model import Folder, ResolvedFile, SourceId, SourceSpec
from osbundle.profile.spill import Codec
from osbundle.profile.walk import Match


class FolderTable:
    """The folders of one profile's files, each with a number."""

    def __init__(self) -> None:
        self.items: list[Folder] = []
        self._numbers: dict[Folder, int] = {}  # Folder hashes by identity

    def number(self, folder: Folder) -> int:
        found = self._numbers.get(folder)
        if found is None:
            found = self._numbers[folder] = len(self.items)
            self.items.append(folder)
        return found


def match_codec(table: FolderTable) -> Codec[Match]:
    """Matches of one walk (walk.Match)."""
    folders, number = table.items, table.number
    make = tuple.__new__  # a named tuple from a tuple, without its Python-level __new__

    def encode(m: Match) -> tuple[Any, ...]:
        o = m.origin
        return (m.abs_path, m.rel_source, m.rel, m.mode, number(o.folder), *o[1:])

    def decode(r: tuple[Any, ...]) -> Match:
        origin = make(SourceId, (folders[r[4]], *r[5:]))
        return make(Match, (r[0], r[1], r[2], r[3], origin))

    return Codec(encode, decode)


def resolved_codec(table: FolderTable, entries: Sequence[SourceSpec]) -> Codec[ResolvedFile]:
    """Resolved files of one profile, whose `spec` is one of `entries`."""
    folders, number = table.items, table.number
    numbers = {id(spec): i for i, spec in enumerate(entries)}
    make = tuple.__new__

    def encode(rf: ResolvedFile) -> tuple[Any, ...]:
        o = rf.origin
        assert o is not None, "resolved files come from profile.sources"
        head = (numbers[id(rf.spec)], rf.abs_path, rf.rel_source, rf.bundle_path, rf.executable)
        return (*head, rf.name, number(o.folder), *o[1:])

    def decode(r: tuple[Any, ...]) -> ResolvedFile:
        origin: SourceId = make(SourceId, (folders[r[6]], *r[7:]))
        return ResolvedFile(
            entries[r[0]], r[1], r[2], r[3], origin.size, origin.mtime_ns, r[4], r[5], origin
        )

    return Codec(encode, decode)


def member_fields(
    table: FolderTable,
) -> Callable[[tuple[Any, ...]], tuple[int, str, str, bool, str | None, SourceId]]:
    """What a member needs of a `resolved_codec` record, without making the ResolvedFile:
    (entry number, abs_path, bundle_path, executable, name, origin)."""
    folders = table.items
    make = tuple.__new__

    def fields(r: tuple[Any, ...]) -> tuple[int, str, str, bool, str | None, SourceId]:
        return r[0], r[1], r[3], r[4], r[5], make(SourceId, (folders[r[6]], *r[7:]))

    return fields
