"""Collect stage: turn the files a profile's sources matched into sorted payload members."""

from __future__ import annotations

from collections.abc import Sequence

from osbundle.model import Member, ResolvedFile
from osbundle.profile.checks import effective_name

# Kinds whose members carry a `name` in the bundle metadata (unattend id, settings namespace).
NAMED_KINDS = frozenset({"unattend", "settings"})


def collect(files: Sequence[ResolvedFile]) -> tuple[Member, ...]:
    """The checked files of a profile as members, sorted by the UTF-8 bytes of their path."""
    return tuple(sorted((member_for(f) for f in files), key=lambda m: m.path.encode()))


def member_for(resolved: ResolvedFile) -> Member:
    spec = resolved.spec
    executable = resolved.executable or spec.kind == "script"
    renders = spec.render and spec.kind in ("unattend", "script")
    return Member(
        path=resolved.bundle_path,
        kind=spec.kind,
        mode=0o755 if executable else 0o644,
        size=resolved.size,
        source=resolved.abs_path,
        mtime_ns=resolved.mtime_ns,
        rendered=renders,
        phase=spec.phase if spec.kind == "script" else None,
        name=effective_name(resolved) if spec.kind in NAMED_KINDS else None,
    )
