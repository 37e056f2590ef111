"""`osbundle validate`: every check a profile can fail before a build, collected, never raised."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from osbundle.errors import InputError, ProfileInvalid
from osbundle.model import Profile, ResolvedFile
from osbundle.profile.checks import special_diagnostics
from osbundle.profile.extends import PROFILE_FILE
from osbundle.profile.load import DocCache, ProfileReport, check_profile, diagnostic_order
from osbundle.profile.records import FolderTable
from osbundle.profile.scan import Scan, scan_sources
from osbundle.profile.spill import HeldRecords, RecordFile


@dataclass(frozen=True)
class ValidationRun:
    """The reports of one `validate` run, one per profile file, in discovery order."""

    reports: tuple[ProfileReport, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    @property
    def error_count(self) -> int:
        return sum(1 for r in self.reports for d in r.diagnostics if d.severity == "error")


def discover_profiles(paths: Sequence[Path]) -> list[Path]:
    """The profile files named by `paths`: files as given, directories searched recursively.

    Hidden directories are skipped. Raises InputError for a missing or unreadable path, and for
    a directory holding no profile.yaml at any depth.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            if not os.access(path, os.R_OK):
                raise InputError(f"{path}: not readable")
            found.append(path)
        elif path.is_dir():
            inside = _search(path)
            if not inside:
                raise InputError(f"{path}: no {PROFILE_FILE} found")
            found.extend(inside)
        else:
            raise InputError(f"{path}: no such file or directory")
    unique: dict[str, Path] = {}
    for file in found:
        unique.setdefault(os.path.realpath(file), file)
    return list(unique.values())


def _search(root: Path) -> list[Path]:
    hits: list[Path] = []

    def fail(exc: OSError) -> None:
        raise InputError(f"{exc.filename}: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if PROFILE_FILE in filenames:
            hits.append(Path(dirpath) / PROFILE_FILE)
    return sorted(hits, key=lambda p: p.parent.parts)


# Below this many profiles, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 64


def check_paths(paths: Sequence[Path], *, jobs: int = 0) -> ValidationRun:
    """Validate every profile `paths` name (see discover_profiles); InputError for a bad path.

    Many profiles are checked in `jobs` worker processes (0: one per CPU); the reports then
    carry diagnostics only (`profile` and `locate` stay in the worker).
    """
    files = discover_profiles(paths)
    workers = min(jobs or os.cpu_count() or 1, len(files) // (PARALLEL_THRESHOLD // 2) or 1)
    if len(files) < PARALLEL_THRESHOLD or workers < 2 or not hasattr(os, "fork"):
        cache: DocCache = {}
        return ValidationRun(tuple(validate_profile(f, cache) for f in files))
    # Imported here: multiprocessing costs every other command (a build) 5 ms at start.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # fork: the workers inherit the imported modules and compiled schema, so they start at once.
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        chunk = max(1, len(files) // (workers * 8))
        return ValidationRun(tuple(pool.map(_validate_detached, files, chunksize=chunk)))


_WORKER_CACHE: DocCache = {}


def _validate_detached(file: Path) -> ProfileReport:
    report = validate_profile(file, _WORKER_CACHE)
    return replace(report, profile=None, locate=None)


def validate_profile(file: Path, cache: DocCache | None = None) -> ProfileReport:
    """Schema, sources, family rules, collisions, macros and references of one profile."""
    with _validate(file, cache, None) as (report, _):
        return report


@dataclass(frozen=True)
class CheckedProfile:
    """A profile that passed every check `validate` makes, with the files its sources match
    sorted by bundle path (in a spill file for a large profile) and its `special` ones
    (checks.is_special), in entry order."""

    profile: Profile
    files: RecordFile[ResolvedFile] | HeldRecords[ResolvedFile]
    special: tuple[ResolvedFile, ...]
    folders: FolderTable  # what the records of `files` number their folders by
    size: int  # of all `files`


@contextlib.contextmanager
def load_checked_profile(path: Path, spill_dir: Path | None = None) -> Iterator[CheckedProfile]:
    """What a build starts from: the same checks as `validate`; ProfileInvalid on any error.
    Spill files go to `spill_dir` (None: the system's temporary directory)."""
    with _validate(path, None, spill_dir) as (report, scan):
        if report.profile is None or scan is None or not report.ok:
            raise ProfileInvalid(tuple(d for d in report.diagnostics if d.severity == "error"))
        records = scan.files.freeze()
        try:
            yield CheckedProfile(
                report.profile, records, tuple(scan.special), scan.table, scan.size
            )
        finally:
            records.close()


@contextlib.contextmanager
def _validate(
    file: Path, cache: DocCache | None, spill_dir: Path | None
) -> Iterator[tuple[ProfileReport, Scan | None]]:
    report = check_profile(file, None, cache)
    profile = report.profile
    if profile is None or report.locate is None:
        yield report, None
        return
    with scan_sources(profile, spill_dir) as scan:
        extra = [*scan.diagnostics, *special_diagnostics(profile, scan.special, report.locate)]
        diagnostics = tuple(sorted([*report.diagnostics, *extra], key=diagnostic_order))
        yield replace(report, diagnostics=diagnostics), scan
