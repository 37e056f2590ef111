"""Every file a profile's sources match, streamed through every per-file check, in bounded
memory.

An entry's matches are sorted on disk when there are many (profile/spill.py), read back once,
checked one at a time (where it lands, family rules, names, readability, capacity), and put
into `Scan.files`, sorted by bundle path: the archive order the build reads them in. What must
see all files at once does so in a constant per file: collisions (profile/collisions.py). What
reads files' contents (unattend names, settings, rendering: profile/checks.py) gets the few
`special` files. Memory: the runs being sorted, one chunk per spilled run, and what grows with
the directories (one Folder each), not with the files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from osbundle import kinds
from osbundle.diagnostics import Diagnostic
from osbundle.gcpause import collector_paused
from osbundle.kinds import KINDS
from osbundle.model import Profile, ResolvedFile, SourceSpec
from osbundle.profile.checks import is_special, unreadable
from osbundle.profile.collisions import CollisionCheck, collision_diagnostics, suspects_in_order
from osbundle.profile.records import FolderTable, match_codec, resolved_codec
from osbundle.profile.sources import Capacity, FamilyRules, NameCheck, entry_files
from osbundle.profile.sources import spec_diagnostic as at_entry
from osbundle.profile.spill import Sorter
from osbundle.profile.walk import Folders, match_source


@dataclass
class Scan:
    """The outcome of one scan: its files sorted by bundle path, the `special` ones (in entry
    order) and every problem found. Close it (`scan_sources` does) to drop its spill files."""

    profile: Profile
    files: Sorter[ResolvedFile]
    entry_order: Callable[[ResolvedFile], tuple[int, str]]
    table: FolderTable
    special: list[ResolvedFile] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    size: int = 0  # of every file, as collected


def bundle_path(rf: ResolvedFile) -> str:
    # str order is the order of the UTF-8 bytes (the walk refuses names that are not UTF-8)
    return rf.bundle_path


@contextlib.contextmanager
def scan_sources(profile: Profile, spill_dir: Path | None = None) -> Iterator[Scan]:
    """Scan `profile`'s entries; spill files go to `spill_dir` (None: the system's temporary
    directory). Problems are diagnostics at the entry's position, never exceptions."""
    table = FolderTable()
    numbers = {id(spec): i for i, spec in enumerate(profile.entries)}

    def entry_order(rf: ResolvedFile) -> tuple[int, str]:
        return numbers[id(rf.spec)], rf.rel_source

    codec = resolved_codec(table, profile.entries)
    scan = Scan(profile, Sorter(bundle_path, codec, spill_dir), entry_order, table)
    try:
        with collector_paused():  # many small records, none in a cycle: see gcpause.py
            run_scan(scan, spill_dir)
        yield scan
    finally:
        scan.files.close()


def run_scan(scan: Scan, spill_dir: Path | None) -> None:
    profile = scan.profile
    family = profile.os.family
    collisions = CollisionCheck(fold=family == "windows")
    capacity = Capacity(profile)
    folders: Folders = {}
    roots: dict[str, str] = {}
    reported: set[str] = set()
    codec = match_codec(scan.table)
    for spec in profile.entries:
        if not kinds.supported(family, spec.kind):
            if spec.kind not in reported:
                reported.add(spec.kind)
                message = kinds.unsupported_message(family, spec.kind)
                scan.diagnostics.append(at_entry(spec, message, (KINDS[spec.kind].key,)))
            continue
        found = Sorter(match_source, codec, spill_dir)
        try:
            files, problems = entry_files(spec, folders, roots, found)
            scan.diagnostics.extend(at_entry(spec, p) for p in problems)
            check_entry(scan, spec, files, collisions, capacity)
        finally:
            found.close()
    picked = suspects_in_order(collisions, ((scan.entry_order(rf), rf) for rf in scan.files))
    scan.diagnostics.extend(collision_diagnostics(picked, collisions.fold))
    scan.diagnostics.extend(capacity.diagnostics())


def check_entry(
    scan: Scan,
    spec: SourceSpec,
    files: Iterator[ResolvedFile],
    collisions: CollisionCheck,
    capacity: Capacity,
) -> None:
    """Every check of one file, for each file of one entry; the files into `scan.files`."""
    family = scan.profile.os.family
    rules = FamilyRules(family, spec.kind)
    naming = NameCheck(scan.profile.name, family, spec)
    out = scan.diagnostics
    if naming.dest is not None:
        out.append(naming.dest)
    for rf in files:
        problem = rules.check(rf)
        if problem is not None:
            out.append(at_entry(spec, problem))
        named = naming.check(rf)
        if named is not None:
            out.append(named)
        collisions.add(rf)
        capacity.add(rf)
        if is_special(rf):
            scan.special.append(rf)
        elif (unread := unreadable(rf)) is not None:
            out.append(unread)
        scan.size += rf.size
        scan.files.add(rf)
    out.extend(at_entry(spec, p) for p in rules.finish())


def resolve_sources(profile: Profile) -> tuple[tuple[ResolvedFile, ...], tuple[Diagnostic, ...]]:
    """Every file the profile's entries match, in entry order (sorted within an entry), and the
    problems `scan_sources` finds; for profiles small enough to hold (tests, `init`)."""
    with scan_sources(profile) as scan:
        return tuple(sorted(scan.files, key=scan.entry_order)), tuple(scan.diagnostics)
