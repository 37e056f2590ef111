"""The per-file values of a profile as plain tuples, for the spill files (profile/spill.py).

What points at a shared object is written as an index: a file's folder into the profile's
FolderTable (one Folder per directory walked; the readers' cache is keyed by its identity, so
a decoded file must get the very same object back), an entry into the profile's entries.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _origin_fields(table: FolderTable, o: SourceId) -> tuple[Any, ...]:
    return (table.number(o.folder), o.name, o.dev, o.ino, o.size, o.mtime_ns, o.ctime_ns)


def match_codec(table: FolderTable) -> Codec[Match]:
    """Matches of one walk (walk.Match)."""
    folders = table.items

    def encode(m: Match) -> tuple[Any, ...]:
        return (m.abs_path, m.rel_source, m.rel, m.mode, *_origin_fields(table, m.origin))

    def decode(r: tuple[Any, ...]) -> Match:
        origin = SourceId(folders[r[4]], r[5], r[6], r[7], r[8], r[9], r[10])
        return Match(r[0], r[1], r[2], r[3], origin)

    return Codec(encode, decode)


def resolved_codec(table: FolderTable, entries: Sequence[SourceSpec]) -> Codec[ResolvedFile]:
    """Resolved files of one profile, whose `spec` is one of `entries`."""
    folders = table.items
    numbers = {id(spec): i for i, spec in enumerate(entries)}

    def encode(rf: ResolvedFile) -> tuple[Any, ...]:
        assert rf.origin is not None, "resolved files come from profile.sources"
        head = (numbers[id(rf.spec)], rf.abs_path, rf.rel_source, rf.bundle_path, rf.executable)
        return (*head, rf.name, *_origin_fields(table, rf.origin))

    def decode(r: tuple[Any, ...]) -> ResolvedFile:
        origin = SourceId(folders[r[6]], r[7], r[8], r[9], r[10], r[11], r[12])
        return ResolvedFile(
            entries[r[0]], r[1], r[2], r[3], origin.size, origin.mtime_ns, r[4], r[5], origin
        )

    return Codec(encode, decode)
