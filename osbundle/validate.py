"""`osbundle validate`: every check a profile can fail before a build, collected, never raised."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from osbundle.errors import InputError
from osbundle.layers import PROFILE_FILE
from osbundle.macrocheck import semantic_diagnostics
from osbundle.profile import DocCache, ProfileReport, check_profile, diagnostic_order
from osbundle.sources import resolve_sources


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


def check_paths(paths: Sequence[Path]) -> ValidationRun:
    """Validate every profile `paths` name (see discover_profiles); InputError for a bad path."""
    cache: DocCache = {}
    return ValidationRun(tuple(validate_profile(f, cache) for f in discover_profiles(paths)))


def validate_profile(file: Path, cache: DocCache | None = None) -> ProfileReport:
    """Schema, sources, family rules, collisions, macros and references of one profile."""
    report = check_profile(file, str(file), cache)
    profile = report.profile
    if profile is None or report.locate is None:
        return report
    files, source_diagnostics = resolve_sources(profile)
    extra = [*source_diagnostics, *semantic_diagnostics(profile, files, report.locate)]
    diagnostics = tuple(sorted([*report.diagnostics, *extra], key=diagnostic_order))
    return replace(report, diagnostics=diagnostics)
