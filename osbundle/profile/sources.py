"""The checks of one entry's files: where they land, family rules, names, and the capacity of a
bundle; `scan.py` streams every file of a profile through them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from osbundle import kinds, model, names
from osbundle.diagnostics import Diagnostic, DocPath
from osbundle.kinds import KINDS, NAMED_KINDS, Family, Kind
from osbundle.model import METADATA, TRAILERS, Profile, ResolvedFile, SourceSpec
from osbundle.profile.collisions import collision_key
from osbundle.profile.spill import Sorter
from osbundle.profile.walk import Folders, Match, Walker, split_relative

__all__ = ["collision_key"]  # where tests and older callers import it from


def spec_diagnostic(
    spec: SourceSpec, message: str, path: DocPath | None = None, hint: str | None = None
) -> Diagnostic:
    """A problem of one entry, located at its `source`."""
    pos = spec.position
    file, line, col = (str(pos.file), pos.line, pos.col) if pos else ("", 1, 1)
    return Diagnostic(file, line, col, spec.yaml_path if path is None else path, message, hint)


def entry_files(
    spec: SourceSpec, folders: Folders, roots: dict[str, str], found: Sorter[Match]
) -> tuple[Iterator[ResolvedFile], list[str]]:
    """The files one entry matches (sorted by source path, read as the caller iterates) and its
    problems as messages; an error of the file system is one of them, never an exception.
    `folders` and `roots` are shared by the entries of one profile (walk.Walker.at); the
    matches go to `found` until they are read."""
    parts, problem = split_relative(spec.source, "source")
    dest_parts, dest_problem = split_relative(spec.dest, "dest")
    problems = [p for p in (problem, dest_problem) if p is not None]
    if problems:
        return iter(()), problems
    if not parts:
        return iter(()), [f"source {spec.source!r} names the profile directory itself"]
    try:
        with Walker.at(os.fspath(spec.base_dir), folders, roots, found) as walker:
            walker.expand(parts)
    except OSError as exc:  # the base directory itself, or a descriptor limit
        return iter(()), [f"cannot read the sources of {spec.source!r}: {exc.strerror or exc}"]
    if not len(found) and not walker.problems:
        return iter(()), [f"source {spec.source!r} matches no file"]
    prefix = "/".join([KINDS[spec.kind].directory, *dest_parts]) + "/"
    return (_resolved(spec, m, prefix) for m in walker.matches()), walker.problems


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


class FamilyRules:
    """Per-family rules for the files of one entry: `check` each file, then `finish`."""

    def __init__(self, family: Family, kind: Kind) -> None:
        self.family, self.kind = family, kind
        self.drivers = family == "windows" and kind == "driver"
        self.any_name = kinds.accepts_any_name(family, kind)
        self.folders = kinds.DriverFolders()

    def check(self, rf: ResolvedFile) -> str | None:
        if self.drivers:
            self.folders.add(in_kind_path(rf))
        elif not self.any_name and not kinds.accepts(
            self.family, self.kind, os.path.basename(rf.abs_path)
        ):
            return kinds.rejected_message(self.family, self.kind, rf.rel_source)
        return None

    def finish(self) -> list[str]:
        return self.folders.problems() if self.drivers else []


class NameCheck:
    """The entry's bundle paths that the reader refuses or the family cannot hold: its `dest`
    once (at the `dest`: `dest_diagnostic`, and then its files are not checked), then each
    file's components below it and its whole name (`<top>/<bundle path>`)."""

    def __init__(self, top: str, family: Family, spec: SourceSpec) -> None:
        self.top, self.spec, self.windows = top, spec, family == "windows"
        problem = dest_problem(spec.dest, self.windows) if spec.dest else None
        self.dest = None if problem is None else dest_diagnostic(spec, problem)
        self.checked: dict[str, str | None] = {}  # a directory below `dest` -> its problem
        self.skip = 0

    def check(self, rf: ResolvedFile) -> Diagnostic | None:
        if self.dest is not None:
            return None
        full = f"{self.top}/{rf.bundle_path}"
        # The common case: ASCII holds no bidi control, and no component or whole name of at
        # most 255 characters is over a limit; what remains is the reader's check.
        short = not self.windows and len(full) <= names.MAX_COMPONENT_BYTES and full.isascii()
        if short and names.member_name_problem(full) is None:
            return None
        if not self.checked:  # the first file checked in full: where `dest` ends in its path
            self.checked[""] = None
            self.skip = len(rf.bundle_path) - len(in_kind_path(rf))
        below = rf.bundle_path[self.skip :]
        problem = _path_problem(full, below, self.windows, self.checked)
        if problem is None:
            return None
        message = f"{rf.rel_source!r} lands at {names.shown(rf.bundle_path)}, {problem}"
        return spec_diagnostic(self.spec, message)


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


class Capacity:
    """What a reader refuses of the bundle as a whole, at the entry that crosses the limit:
    more than model.MAX_MEMBERS members, a metadata.json over model.MAX_METADATA_BYTES (bounded
    from above: sizes are not known before rendering). SHA256SUMS is smaller than metadata.
    `add` every file in entry order, then `diagnostics`."""

    def __init__(self, profile: Profile) -> None:
        os, install = profile.os, sorted(profile.install.items())
        fields = (profile.id, profile.name, profile.description, os.release, os.arch, install)
        # JSON takes at most 6 bytes for a character repr() shows as at least one
        self.total = _PROFILE_BYTES + 6 * len(repr(fields))
        self.count = 0
        self.too_many: Diagnostic | None = None
        self.too_large: Diagnostic | None = None

    def add(self, rf: ResolvedFile) -> None:
        self.count += 1
        if self.count == model.MAX_MEMBERS - len(TRAILERS) + 1:
            self.too_many = spec_diagnostic(rf.spec, "")
        if self.too_large is not None:
            return
        item = _ITEM_BYTES + _json_bytes(rf.bundle_path) + _json_bytes(rf.name or "")
        self.total += 2 * item if rf.spec.kind == "unattend" else item  # unattendFiles too
        if self.total > model.MAX_METADATA_BYTES:
            limit = model.MAX_METADATA_BYTES // (1 << 20)
            message = f"the bundle's {METADATA} would exceed the {limit} MiB a bundle reader takes"
            self.too_large = spec_diagnostic(rf.spec, message)

    def diagnostics(self) -> list[Diagnostic]:
        if self.too_many is not None:
            message = (
                f"the bundle would hold {self.count + len(TRAILERS):,} members with its "
                f"trailers (a bundle reader takes {model.MAX_MEMBERS:,})"
            )
            return [replace(self.too_many, message=message)]
        return [] if self.too_large is None else [self.too_large]


def _json_bytes(text: str) -> int:
    """An upper bound of `text`'s length as a JSON string body (quotes and backslashes escaped;
    control characters, which would take six bytes, never reach a bundle path or name)."""
    size = len(text) if text.isascii() else len(text.encode())
    return size + text.count('"') + text.count("\\")
