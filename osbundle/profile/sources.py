"""Resolve a profile's sources to regular files, their bundle paths, and the problems found."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable

from osbundle import kinds
from osbundle.diagnostics import Diagnostic, DocPath, format_doc_path
from osbundle.gcpause import collector_paused
from osbundle.kinds import KINDS, NAMED_KINDS, Family
from osbundle.model import Profile, ResolvedFile, SourceSpec
from osbundle.profile.walk import Folders, Match, Walker, split_relative


def resolve_sources(profile: Profile) -> tuple[tuple[ResolvedFile, ...], tuple[Diagnostic, ...]]:
    """Every file the profile's entries match, in entry order (sorted within an entry).

    Problems are diagnostics at the entry's position, never exceptions: escapes from the
    profile directory, sources matching nothing, non-regular files, family rules, collisions.
    """
    with collector_paused():  # one record per file, none in a cycle: see gcpause.py
        return _resolve_sources(profile)


def _resolve_sources(profile: Profile) -> tuple[tuple[ResolvedFile, ...], tuple[Diagnostic, ...]]:
    family = profile.os.family
    files: list[ResolvedFile] = []
    diagnostics: list[Diagnostic] = []
    reported_kinds: set[str] = set()
    folders: Folders = {}
    for spec in profile.entries:
        if not kinds.supported(family, spec.kind):
            if spec.kind not in reported_kinds:
                reported_kinds.add(spec.kind)
                message = kinds.unsupported_message(family, spec.kind)
                diagnostics.append(spec_diagnostic(spec, message, (KINDS[spec.kind].key,)))
            continue
        resolved, problems = resolve_spec(spec, folders)
        files.extend(resolved)
        diagnostics.extend(spec_diagnostic(spec, p) for p in problems)
        diagnostics.extend(spec_diagnostic(spec, p) for p in family_problems(family, resolved))
    diagnostics.extend(collision_diagnostics(files, fold=family == "windows"))
    return tuple(files), tuple(diagnostics)


def spec_diagnostic(
    spec: SourceSpec, message: str, path: DocPath | None = None, hint: str | None = None
) -> Diagnostic:
    """A problem of one entry, located at its `source`."""
    pos = spec.position
    file, line, col = (str(pos.file), pos.line, pos.col) if pos else ("", 1, 1)
    return Diagnostic(file, line, col, spec.yaml_path if path is None else path, message, hint)


def resolve_spec(
    spec: SourceSpec, folders: Folders | None = None
) -> tuple[list[ResolvedFile], list[str]]:
    """The files one entry matches (sorted by source path) and its problems as messages; an
    error of the file system is one of them, never an exception. `folders`: shared by the
    entries of one profile (walk.Folders)."""
    parts, problem = split_relative(spec.source, "source")
    dest_parts, dest_problem = split_relative(spec.dest, "dest")
    problems = [p for p in (problem, dest_problem) if p is not None]
    if problems:
        return [], problems
    if not parts:
        return [], [f"source {spec.source!r} names the profile directory itself"]
    try:
        with Walker.at(os.fspath(spec.base_dir), folders) as walker:
            walker.expand(parts)
    except OSError as exc:  # the base directory itself, or a descriptor limit
        return [], [f"cannot read the sources of {spec.source!r}: {exc.strerror or exc}"]
    if not walker.found and not walker.problems:
        return [], [f"source {spec.source!r} matches no file"]
    prefix = "/".join([KINDS[spec.kind].directory, *dest_parts]) + "/"
    matches = sorted(walker.found.values(), key=lambda m: m.rel_source)
    return [_resolved(spec, m, prefix) for m in matches], walker.problems


def _resolved(spec: SourceSpec, match: Match, prefix: str) -> ResolvedFile:
    name = None
    if spec.kind in NAMED_KINDS:
        name = spec.name or kinds.file_stem(os.path.basename(match.abs_path))
    return ResolvedFile(
        spec,
        match.abs_path,
        match.rel_source,
        prefix + match.rel,
        match.origin.size,
        match.origin.mtime_ns,
        bool(match.mode & 0o111),
        name,
        match.origin,
    )


def in_kind_path(rf: ResolvedFile) -> str:
    """The path below the kind directory and `dest`: below the source's static prefix."""
    dest = "/".join(p for p in rf.spec.dest.split("/") if p not in ("", "."))
    skip = len(KINDS[rf.spec.kind].directory) + 1 + (len(dest) + 1 if dest else 0)
    return rf.bundle_path[skip:]


def family_problems(family: Family, resolved: list[ResolvedFile]) -> list[str]:
    """Per-family rules for the files of one entry."""
    if not resolved:
        return []
    kind = resolved[0].spec.kind
    if family == "windows" and kind == "driver":
        return kinds.windows_driver_problems([in_kind_path(rf) for rf in resolved])
    if kinds.accepts_any_name(family, kind):
        return []
    return [
        kinds.rejected_message(family, kind, rf.rel_source)
        for rf in resolved
        if not kinds.accepts(family, kind, os.path.basename(rf.abs_path))
    ]


def collision_key(bundle_path: str, fold: bool) -> str:
    """Bundle paths equal under this key collide; Windows compares NFC-normalised, case-folded."""
    return unicodedata.normalize("NFC", bundle_path).casefold() if fold else bundle_path


def collision_diagnostics(files: Iterable[ResolvedFile], fold: bool) -> list[Diagnostic]:
    seen: dict[str, ResolvedFile] = {}
    out: list[Diagnostic] = []
    for rf in files:
        key = collision_key(rf.bundle_path, fold)
        first = seen.setdefault(key, rf)
        if first is rf:
            continue
        how = "" if first.bundle_path == rf.bundle_path else " (ignoring case)"
        message = (
            f"{rf.rel_source!r} lands at {rf.bundle_path!r}, which collides{how} with "
            f"{first.rel_source!r} from {format_doc_path(first.spec.yaml_path)}"
        )
        out.append(spec_diagnostic(rf.spec, message))
    return out
