"""Load a profile: parse, resolve `extends`, validate against the schema, build the model."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from osbundle.diagnostics import Diagnostic, DocPath
from osbundle.errors import InputError, ProfileInvalid
from osbundle.kinds import KINDS, Family, Kind, file_stem
from osbundle.model import OsSpec, Position, Profile, SourceSpec
from osbundle.names import component_problem
from osbundle.profile.extends import Locator, load_merged, profile_file
from osbundle.profile.schema import nonfinite_diagnostics, schema_diagnostics
from osbundle.profile.walk import GLOB_CHARS
from osbundle.yaml.document import YamlDocument

DocCache = dict[tuple[str, str], YamlDocument]
Locate = Callable[[DocPath], Position]


@dataclass(frozen=True)
class ProfileReport:
    """The outcome of checking one profile: the model when it is schema-valid, and every problem.

    `locate` maps a path in the merged document to where it was written (None when the
    top file could not be parsed).
    """

    file: str
    profile: Profile | None
    diagnostics: tuple[Diagnostic, ...]
    locate: Locate | None = None

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def check_profile(
    path: Path, display: str | None = None, cache: DocCache | None = None
) -> ProfileReport:
    """Check the profile at `path` (its directory or its profile.yaml); never raises for content.

    Raises InputError only when the profile file cannot be read at all.
    """
    file = profile_file(path)
    shown = display if display is not None else str(file)
    problem = not_a_profile_file(file)
    if problem:
        raise InputError(f"{shown}: {problem}")
    merged = load_merged(file, shown, cache)
    diagnostics = list(merged.diagnostics)
    if not merged.layers:  # the top file did not parse
        return ProfileReport(shown, None, tuple(diagnostics))
    locate = _position_function(merged.locator)
    if merged.data is None:  # the schema would say "None is not of type 'object'"
        empty = Diagnostic(shown, 1, 1, (), "the profile is empty", hint=EMPTY_HINT)
        return ProfileReport(shown, None, (*diagnostics, empty), locate)
    diagnostics.extend(schema_diagnostics(merged.data, merged.locator))
    flagged = {d.path for d in diagnostics}
    for d in nonfinite_diagnostics(merged.data, merged.locator):
        if not any(d.path[:n] in flagged for n in range(len(d.path) + 1)):
            diagnostics.append(d)
    profile = None
    if not any(d.severity == "error" for d in diagnostics):
        profile = build_profile(file, merged.data, merged.locator)
        diagnostics.extend(top_directory_diagnostics(profile, locate))
    return ProfileReport(shown, profile, tuple(sorted(diagnostics, key=diagnostic_order)), locate)


EMPTY_HINT = "a profile is a YAML mapping: id, name, os, then the files to bundle"
_FILE_TYPES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def not_a_profile_file(file: Path) -> str:
    """Why `file` cannot be read as a profile ("" when it is a regular file), from its type
    alone: a device or FIFO is never opened, so it can neither hang nor stream forever."""
    try:
        info = os.stat(file)
    except FileNotFoundError:
        return "a symbolic link to a missing file" if file.is_symlink() else "no such profile file"
    except OSError as exc:
        return f"cannot read the profile file: {exc.strerror or exc}"
    if stat.S_ISREG(info.st_mode):
        return ""
    what = next((name for test, name in _FILE_TYPES if test(info.st_mode)), "not a file")
    if file.is_symlink():
        what = f"a symbolic link to {what} ({os.path.realpath(file)})"
    return f"not a regular file: {what}"


def load_profile(path: Path, display: str | None = None) -> Profile:
    """The loaded profile; raises ProfileInvalid carrying every diagnostic when it is not valid."""
    report = check_profile(path, display)
    if report.profile is None or not report.ok:
        raise ProfileInvalid(report.diagnostics)
    return report.profile


def top_directory_diagnostics(profile: Profile, locate: Locate) -> list[Diagnostic]:
    """The profile's name is its bundle's top directory: on Windows, not `con` nor `x.`."""
    why = component_problem(profile.name, profile.os.family == "windows")
    if why is None:
        return []
    pos = locate(("name",))
    message = f"{profile.name!r} {why}; it is the bundle's top directory"
    return [Diagnostic(str(pos.file), pos.line, pos.col, ("name",), message)]


def diagnostic_order(d: Diagnostic) -> tuple[str, int, int, str, str]:
    return (d.file, d.line, d.col, repr(d.path), d.message)


def _position_function(locator: Locator) -> Locate:
    def locate(path: DocPath) -> Position:
        located = locator.locate(path)
        mark = located.value_mark()
        return Position(located.layer.display_path, mark.line, mark.col)

    return locate


def build_profile(file: Path, data: Mapping[str, Any], locator: Locator) -> Profile:
    """The model of a schema-valid merged document."""
    os_data = data["os"]
    install = dict(data.get("install", {}))
    entries: list[SourceSpec] = []
    for kind, info in KINDS.items():
        for index, item in enumerate(data.get(info.key, [])):
            entries.append(_source_spec(kind, info.key, index, item, locator))
    return Profile(
        path=file,
        root=file.parent,
        id=data["id"],
        name=data["name"],
        description=data.get("description", ""),
        os=OsSpec(cast(Family, os_data["family"]), os_data["release"], os_data["arch"]),
        install=install,
        predefined_unattend=install.get("unattend"),
        entries=tuple(entries),
        document=data,
    )


def _source_spec(kind: Kind, key: str, index: int, item: Any, locator: Locator) -> SourceSpec:
    fields: Mapping[str, Any] = item if isinstance(item, dict) else {"source": item}
    path: DocPath = (key, index, "source") if isinstance(item, dict) else (key, index)
    located = locator.locate(path)
    mark = located.value_mark()
    source = str(fields["source"])
    name_key = KINDS[kind].name_key
    name = fields.get(name_key) if name_key else None
    if name_key and name is None:
        name = default_name(source)
    phase = cast(Literal["pre", "post"], fields.get("phase", "post")) if kind == "script" else None
    return SourceSpec(
        kind=kind,
        source=source,
        base_dir=located.layer.base_dir,
        dest=str(fields.get("dest", "")),
        render=bool(fields.get("render", KINDS[kind].rendered)),
        phase=phase,
        name=name,
        yaml_path=path,
        position=Position(located.layer.display_path, mark.line, mark.col),
        dest_position=_position(locator, (key, index, "dest")) if "dest" in fields else None,
    )


def _position(locator: Locator, path: DocPath) -> Position:
    located = locator.locate(path)
    mark = located.value_mark()
    return Position(located.layer.display_path, mark.line, mark.col)


def default_name(source: str) -> str | None:
    """The file name without all extensions; None for a glob (each match then uses its own)."""
    last = source.rstrip("/").rsplit("/", 1)[-1]
    if not last or GLOB_CHARS.search(source):
        return None
    return file_stem(last)
