"""Collect stage: turn a profile's sources into the sorted list of payload members."""

from __future__ import annotations

from osbundle.errors import ProfileInvalid
from osbundle.model import Member, Profile, ResolvedFile
from osbundle.sources import resolve_sources

# Kinds whose members carry a `name` in the bundle metadata (unattend id, settings namespace).
NAMED_KINDS = frozenset({"unattend", "settings"})


def collect(profile: Profile) -> tuple[Member, ...]:
    """Every file the profile names, as members sorted by the UTF-8 bytes of their path.

    Raises ProfileInvalid with every problem found (missing sources, escapes, collisions, ...).
    """
    files, diagnostics = resolve_sources(profile)
    errors = tuple(d for d in diagnostics if d.severity == "error")
    if errors:
        raise ProfileInvalid(errors)
    members = [member_for(resolved) for resolved in files]
    return tuple(sorted(members, key=lambda m: m.path.encode()))


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
        name=(spec.name or file_stem(resolved.bundle_path)) if spec.kind in NAMED_KINDS else None,
    )


def file_stem(path: str) -> str:
    """`unattend/autounattend.xml` -> `autounattend`; `a/b.tar.gz` -> `b` (all extensions)."""
    name = path.rsplit("/", 1)[-1]
    return name.split(".", 1)[0] or name
