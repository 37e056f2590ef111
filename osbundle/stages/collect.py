"""Collect stage: turn the files a profile's sources matched into sorted payload members."""

from __future__ import annotations

from collections.abc import Sequence

from osbundle.kinds import KINDS
from osbundle.model import EXEC_MODE, FILE_MODE, Member, ResolvedFile


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
