"""Collect stage: turn the files a profile's sources matched into sorted payload members."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from osbundle.kinds import KINDS, Kind
from osbundle.model import EXEC_MODE, FILE_MODE, Member, ResolvedFile, SourceId, SourceSpec
from osbundle.profile.records import FolderTable, member_fields
from osbundle.profile.spill import HeldRecords, RecordFile


def collect(files: Sequence[ResolvedFile]) -> tuple[Member, ...]:
    """The checked files of a profile as members, sorted by the UTF-8 bytes of their path."""
    return tuple(sorted((member_for(f) for f in files), key=lambda m: m.path.encode()))


def member_for(resolved: ResolvedFile) -> Member:
    return make_member(
        entry_rules(resolved.spec),
        path=resolved.bundle_path,
        executable=resolved.executable,
        size=resolved.size,
        source=resolved.abs_path,
        mtime_ns=resolved.mtime_ns,
        name=resolved.name,
        origin=resolved.origin,
    )


EntryRules = tuple[Kind, bool, bool, Literal["pre", "post"] | None]


def entry_rules(spec: SourceSpec) -> EntryRules:
    """What a member takes from its entry: kind, whether the kind is executable, whether the
    member is rendered, phase (worked out once per entry for a spilled list)."""
    info = KINDS[spec.kind]
    return spec.kind, info.executable, spec.render and info.rendered, spec.phase


def make_member(
    rules: EntryRules,
    *,
    path: str,
    executable: bool,
    size: int,
    source: str,
    mtime_ns: int,
    name: str | None,
    origin: SourceId | None,
) -> Member:
    kind, kind_executable, rendered, phase = rules
    mode = EXEC_MODE if executable or kind_executable else FILE_MODE
    fields = (path, kind, mode, size, source, None, mtime_ns, rendered, phase, name, origin)
    return _make(Member, fields)


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
        self._rules = [entry_rules(spec) for spec in entries]

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
        return make_member(
            self._rules[entry],
            path=path,
            executable=executable,
            size=origin.size,
            source=source,
            mtime_ns=origin.mtime_ns,
            name=name,
            origin=origin,
        )


_make = tuple.__new__  # a Member from its fields, without the named tuple's Python-level __new__
