"""Collect stage: turn the files a profile's sources matched into sorted payload members."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from osbundle.kinds import KINDS
from osbundle.model import EXEC_MODE, FILE_MODE, Member, ResolvedFile
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
    bytes of their path. Each member is made as it is read, from the scan's records (in
    memory for a small profile, in a spill file for a large one)."""

    def __init__(self, records: RecordFile[ResolvedFile] | HeldRecords[ResolvedFile]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Member]:
        return map(member_for, self.records)

    def span(self, start: int, stop: int) -> Iterator[Member]:
        return map(member_for, self.records.span(start, stop))

    def descriptors(self) -> tuple[int, ...]:
        return self.records.descriptors()
