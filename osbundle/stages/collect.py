"""Collect stage: turn the files a profile's sources matched into sorted payload members."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from osbundle.kinds import KINDS
from osbundle.model import EXEC_MODE, FILE_MODE, Member, ResolvedFile, SourceSpec
from osbundle.profile.records import FolderTable, member_fields
from osbundle.profile.spill import HeldRecords, RecordFile


def collect(files: Sequence[ResolvedFile]) -> tuple[Member, ...]:
    """The checked files of a profile as members, sorted by the UTF-8 bytes of their path."""
    return tuple(sorted((member_for(f) for f in files), key=lambda m: m.path.encode()))


def member_for(resolved: ResolvedFile) -> Member:
    spec = resolved.spec
    info = KINDS[spec.kind]
    return Member(
        path=resolved.bundle_path,
        kind=spec.kind,
        mode=EXEC_MODE if resolved.executable or info.executable else FILE_MODE,
        size=resolved.size,
        source=resolved.abs_path,
        mtime_ns=resolved.mtime_ns,
        rendered=spec.render and info.rendered,
        phase=spec.phase,
        name=resolved.name,
        origin=resolved.origin,
    )


class CollectedMembers:
    """A scan's files as members (a model.MemberList), in the scan's order: sorted by the UTF-8
    bytes of their path. Each member is made as it is read: from the ResolvedFiles of a small
    profile, straight from the spill file's records for a large one (no ResolvedFile made:
    a build reads its list three times, in two processes)."""

    def __init__(
        self,
        records: RecordFile[ResolvedFile] | HeldRecords[ResolvedFile],
        entries: Sequence[SourceSpec],
        table: FolderTable,
    ) -> None:
        self.records = records
        self._fields = member_fields(table)
        # Per entry: what member_for takes from the entry and its kind.
        self._entries = [
            (s.kind, KINDS[s.kind].executable, s.render and KINDS[s.kind].rendered, s.phase)
            for s in entries
        ]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Member]:
        return self.span(0, len(self.records))

    def span(self, start: int, stop: int) -> Iterator[Member]:
        if isinstance(self.records, HeldRecords):
            return map(member_for, self.records.span(start, stop))
        return map(self._member, self.records.raw_span(start, stop))

    def descriptors(self) -> tuple[int, ...]:
        return self.records.descriptors()

    def _member(self, record: tuple[Any, ...]) -> Member:
        entry, source, path, executable, name, origin = self._fields(record)
        kind, kind_executable, rendered, phase = self._entries[entry]
        mode = EXEC_MODE if executable or kind_executable else FILE_MODE
        fields = (path, kind, mode, origin.size, source, None, origin.mtime_ns, rendered, phase)
        return _make(Member, (*fields, name, origin))


_make = tuple.__new__  # a Member from its fields, without the named tuple's Python-level __new__
