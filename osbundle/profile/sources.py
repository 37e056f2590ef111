"""Resolve a profile's sources to regular files, their bundle paths, and the problems found."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Sequence

from osbundle import kinds, model, names
from osbundle.diagnostics import Diagnostic, DocPath, format_doc_path
from osbundle.gcpause import collector_paused
from osbundle.kinds import KINDS, NAMED_KINDS, Family
from osbundle.model import METADATA, TRAILERS, Profile, ResolvedFile, SourceSpec
from osbundle.profile.walk import Folders, Match, Walker, split_relative


def resolve_sources(profile: Profile) -> tuple[tuple[ResolvedFile, ...], tuple[Diagnostic, ...]]:
    """Every file the profile's entries match, in entry order (sorted within an entry).

    Problems are diagnostics at the entry's position, never exceptions: escapes from the
    profile directory, sources matching nothing, non-regular files, family rules, bundle
    paths a reader or the target refuses (`osbundle/names.py`), collisions.
    """
    with collector_paused():  # one record per file, none in a cycle: see gcpause.py
        return _resolve_sources(profile)


def _resolve_sources(profile: Profile) -> tuple[tuple[ResolvedFile, ...], tuple[Diagnostic, ...]]:
    family = profile.os.family
    files: list[ResolvedFile] = []
    diagnostics: list[Diagnostic] = []
    reported_kinds: set[str] = set()
    folders: Folders = {}
    roots: dict[str, str] = {}
    for spec in profile.entries:
        if not kinds.supported(family, spec.kind):
            if spec.kind not in reported_kinds:
                reported_kinds.add(spec.kind)
                message = kinds.unsupported_message(family, spec.kind)
                diagnostics.append(spec_diagnostic(spec, message, (KINDS[spec.kind].key,)))
            continue
        resolved, problems = resolve_spec(spec, folders, roots)
        files.extend(resolved)
        diagnostics.extend(spec_diagnostic(spec, p) for p in problems)
        diagnostics.extend(spec_diagnostic(spec, p) for p in family_problems(family, resolved))
        diagnostics.extend(name_diagnostics(profile.name, family, spec, resolved))
    diagnostics.extend(collision_diagnostics(files, fold=family == "windows"))
    diagnostics.extend(capacity_diagnostics(profile, files))
    return tuple(files), tuple(diagnostics)


def spec_diagnostic(
    spec: SourceSpec, message: str, path: DocPath | None = None, hint: str | None = None
) -> Diagnostic:
    """A problem of one entry, located at its `source`."""
    pos = spec.position
    file, line, col = (str(pos.file), pos.line, pos.col) if pos else ("", 1, 1)
    return Diagnostic(file, line, col, spec.yaml_path if path is None else path, message, hint)


def resolve_spec(
    spec: SourceSpec, folders: Folders | None = None, roots: dict[str, str] | None = None
) -> tuple[list[ResolvedFile], list[str]]:
    """The files one entry matches (sorted by source path) and its problems as messages; an
    error of the file system is one of them, never an exception. `folders` and `roots`: shared
    by the entries of one profile (walk.Walker.at)."""
    parts, problem = split_relative(spec.source, "source")
    dest_parts, dest_problem = split_relative(spec.dest, "dest")
    problems = [p for p in (problem, dest_problem) if p is not None]
    if problems:
        return [], problems
    if not parts:
        return [], [f"source {spec.source!r} names the profile directory itself"]
    try:
        with Walker.at(os.fspath(spec.base_dir), folders, roots) as walker:
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


def name_diagnostics(
    top: str, family: Family, spec: SourceSpec, resolved: list[ResolvedFile]
) -> list[Diagnostic]:
    """The entry's bundle paths that the reader refuses or the family cannot hold: its `dest`
    once (at the `dest`), then each file's components below it and its whole name
    (`<top>/<bundle path>`)."""
    windows = family == "windows"
    problem = dest_problem(spec.dest, windows) if spec.dest else None
    if problem is not None:
        return [dest_diagnostic(spec, problem)]
    checked: dict[str, str | None] = {}  # a directory below `dest` -> its problem
    out = []
    for rf in resolved:
        full = f"{top}/{rf.bundle_path}"
        # The common case: ASCII holds no bidi control, and no component or whole name of at
        # most 255 characters is over a limit; what remains is the reader's check.
        short = not windows and len(full) <= names.MAX_COMPONENT_BYTES and full.isascii()
        if short and names.member_name_problem(full) is None:
            continue
        if not checked:  # the first file checked in full: where `dest` ends in its path
            checked[""] = None
            skip = len(rf.bundle_path) - len(in_kind_path(rf))
        problem = _path_problem(full, rf.bundle_path[skip:], windows, checked)
        if problem is not None:
            message = f"{rf.rel_source!r} lands at {names.shown(rf.bundle_path)}, {problem}"
            out.append(spec_diagnostic(spec, message))
    return out


def dest_problem(dest: str, windows: bool) -> str | None:
    if not windows and len(dest) <= names.MAX_COMPONENT_BYTES and dest.isascii():
        return None  # no component over the limit, no bidi control
    for part in dest.split("/"):
        why = names.component_problem(part, windows) if part not in ("", ".") else None
        if why is not None:
            where = "" if part == dest.strip("/") else f": component {names.shown(part)}"
            return f"{names.shown(dest)}{where} {why}"
    return None


def dest_diagnostic(spec: SourceSpec, message: str) -> Diagnostic:
    """A problem of an entry's `dest`, located there (at its `source`, naming the `dest`, when
    its position is unknown)."""
    pos = spec.dest_position
    if pos is None:
        return spec_diagnostic(spec, f"dest {message}")
    path = (*spec.yaml_path[:-1], "dest")
    return Diagnostic(str(pos.file), pos.line, pos.col, path, message)


def _path_problem(
    full: str, below_dest: str, windows: bool, checked: dict[str, str | None]
) -> str | None:
    """Why a member name is refused: a component below `dest` (each directory checked once),
    its length, or, whatever the rules before, what the reader refuses."""
    directory, _, leaf = below_dest.rpartition("/")
    why = _directory_problem(directory, windows, checked) or _component(leaf, windows)
    if why is not None:
        return why
    why = names.path_length_problem(full, windows)
    if why is not None:
        return f"whose name {why}"
    why = names.member_name_problem(full)
    return None if why is None else f"which bundle readers refuse (it {why})"


def _directory_problem(directory: str, windows: bool, checked: dict[str, str | None]) -> str | None:
    """The first refused component of `directory`; each directory's last component is checked
    once, its parent's from `checked` (files sit two to a directory in a driver tree)."""
    if directory in checked:
        return checked[directory]
    parent, _, last = directory.rpartition("/")
    why = _directory_problem(parent, windows, checked) or _component(last, windows)
    checked[directory] = why
    return why


def _component(part: str, windows: bool) -> str | None:
    why = names.component_problem(part, windows)
    return None if why is None else f"whose component {names.shown(part)} {why}"


# An upper bound of one member's inventory item in metadata.json besides its path and name:
# `{"kind":"software","mode":"0644","name":"","path":"","phase":"post","rendered":true,`
# `"sha256":"<64>","size":<20 digits>,"xxh3_128":"<32>"},` is 235 bytes.
_ITEM_BYTES = 256
_PROFILE_BYTES = 64 * 1024  # metadata.json's fixed fields, beside the profile's own text


def capacity_diagnostics(profile: Profile, files: Sequence[ResolvedFile]) -> list[Diagnostic]:
    """What a reader refuses of the bundle as a whole, at the entry that crosses the limit:
    more than model.MAX_MEMBERS members, a metadata.json over model.MAX_METADATA_BYTES (bounded
    from above: sizes are not known before rendering). SHA256SUMS is smaller than metadata."""
    members = model.MAX_MEMBERS - len(TRAILERS)
    if len(files) > members:
        message = (
            f"the bundle would hold {len(files) + len(TRAILERS):,} members with its "
            f"trailers (a bundle reader takes {model.MAX_MEMBERS:,})"
        )
        return [spec_diagnostic(files[members].spec, message)]
    os, install = profile.os, sorted(profile.install.items())
    fields = (profile.id, profile.name, profile.description, os.release, os.arch, install)
    # JSON takes at most 6 bytes for a character repr() shows as at least one
    total = _PROFILE_BYTES + 6 * len(repr(fields))
    # Quick: no character takes more than 4 bytes in JSON (UTF-8, or an escaped `"` or `\`).
    longest = max((len(rf.bundle_path) + len(rf.name or "") for rf in files), default=0)
    if total + len(files) * 2 * (_ITEM_BYTES + 4 * longest) <= model.MAX_METADATA_BYTES:
        return []
    for rf in files:
        total += _ITEM_BYTES + _json_bytes(rf.bundle_path) + _json_bytes(rf.name or "")
        if rf.spec.kind == "unattend":  # listed again in unattendFiles
            total += _ITEM_BYTES + _json_bytes(rf.bundle_path) + _json_bytes(rf.name or "")
        if total > model.MAX_METADATA_BYTES:
            limit = model.MAX_METADATA_BYTES // (1 << 20)
            message = f"the bundle's {METADATA} would exceed the {limit} MiB a bundle reader takes"
            return [spec_diagnostic(rf.spec, message)]
    return []


def _json_bytes(text: str) -> int:
    """An upper bound of `text`'s length as a JSON string body (quotes and backslashes escaped;
    control characters, which would take six bytes, never reach a bundle path or name)."""
    size = len(text) if text.isascii() else len(text.encode())
    return size + text.count('"') + text.count("\\")


def collision_key(bundle_path: str, fold: bool) -> str:
    """Bundle paths equal under this key collide; Windows compares them as `names.windows_key`
    (NFC-normalised, case-folded, trailing dots and spaces stripped)."""
    return names.windows_key(bundle_path) if fold else bundle_path


def collision_diagnostics(files: Iterable[ResolvedFile], fold: bool) -> list[Diagnostic]:
    """Two files on one path, or a file on a path another file needs as a directory."""
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
            out.append(spec_diagnostic(rf.spec, message))
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
