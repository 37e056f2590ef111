"""Checks that need the resolved files: unattend names, settings namespaces, macros."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterator, Sequence

from osbundle.diagnostics import Diagnostic, DocPath
from osbundle.errors import InputError
from osbundle.macros.render import NAMESPACE_RE, find_macros, load_settings, predefined_values
from osbundle.model import Position, Profile, ResolvedFile
from osbundle.profile.load import file_stem
from osbundle.profile.sources import spec_diagnostic

Locate = Callable[[DocPath], Position]
_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$", re.DOTALL)


def effective_name(rf: ResolvedFile) -> str:
    """An unattend entry's name / a settings file's namespace: as written, else the file stem."""
    return rf.spec.name or file_stem(os.path.basename(rf.abs_path))


def shown_path(rf: ResolvedFile) -> str:
    """The file as the user would name it: beside the profile file that declared it."""
    declared = str(rf.spec.position.file) if rf.spec.position else ""
    return os.path.normpath(os.path.join(os.path.dirname(declared), rf.rel_source))


def semantic_diagnostics(
    profile: Profile, files: Sequence[ResolvedFile], locate: Locate
) -> list[Diagnostic]:
    out = list(_unattend_names(profile, files, locate))
    defined, settings_diagnostics = _macro_table(profile, files)
    out.extend(settings_diagnostics)
    for rf in files:
        if rf.spec.render and rf.spec.kind in ("unattend", "script"):
            out.extend(_macro_uses(rf, defined))
    return out


def _unattend_names(
    profile: Profile, files: Sequence[ResolvedFile], locate: Locate
) -> Iterator[Diagnostic]:
    names: dict[str, ResolvedFile] = {}
    for rf in files:
        if rf.spec.kind != "unattend":
            continue
        name = effective_name(rf)
        first = names.setdefault(name, rf)
        if first is not rf and first.spec is not rf.spec:
            yield spec_diagnostic(
                rf.spec, f"unattend name {name!r} is already used by {first.rel_source!r}"
            )
    wanted = profile.predefined_unattend
    if wanted is not None and wanted not in names:
        pos = locate(("install", "unattend"))
        have = ", ".join(sorted(names)) or "none"
        yield Diagnostic(
            str(pos.file),
            pos.line,
            pos.col,
            ("install", "unattend"),
            f"no unattend entry is named {wanted!r}",
            f"unattend names: {have}",
        )


def _macro_table(
    profile: Profile, files: Sequence[ResolvedFile]
) -> tuple[set[str], list[Diagnostic]]:
    defined = set(predefined_values(profile))
    problems: list[Diagnostic] = []
    owners: dict[str, ResolvedFile] = {}
    for rf in files:
        if rf.spec.kind != "settings":
            continue
        namespace = effective_name(rf)
        first = owners.setdefault(namespace, rf)
        if not NAMESPACE_RE.fullmatch(namespace) or namespace == "predefined":
            problems.append(
                spec_diagnostic(
                    rf.spec,
                    f"{namespace!r} cannot be a macro namespace",
                    hint="set `namespace:` to letters, digits, _ or -, starting with a letter or _",
                )
            )
        elif first is not rf:
            problems.append(
                spec_diagnostic(
                    rf.spec,
                    f"macro namespace {namespace!r} is already used by {first.rel_source!r}",
                )
            )
        else:
            try:
                defined.update(load_settings(namespace, rf.abs_path, shown_path(rf)))
            except InputError as exc:
                problems.append(_settings_problem(rf, str(exc)))
    return defined, problems


def _settings_problem(rf: ResolvedFile, text: str) -> Diagnostic:
    found = _LOCATED.match(text)
    if found is None:
        shown = shown_path(rf)
        message = text.removeprefix(f"{shown}: ")
        return Diagnostic(shown, 1, 1, rf.spec.yaml_path, message)
    return Diagnostic(
        found["file"], int(found["line"]), int(found["col"]), rf.spec.yaml_path, found["message"]
    )


def _macro_uses(rf: ResolvedFile, defined: set[str]) -> Iterator[Diagnostic]:
    try:
        with open(rf.abs_path, "rb") as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        yield spec_diagnostic(
            rf.spec,
            f"{rf.rel_source!r} is not UTF-8 text ({exc.reason})",
            hint="set `render: false` to ship it unchanged",
        )
        return
    except OSError as exc:
        yield spec_diagnostic(rf.spec, f"cannot read {rf.rel_source!r}: {exc.strerror}")
        return
    for use in find_macros(text):
        if use.name in defined:
            continue
        close = difflib.get_close_matches(use.name, defined, n=1)
        hint = f"did you mean #{close[0]}#?" if close else "define it in a settings file"
        yield Diagnostic(
            shown_path(rf),
            use.line,
            use.col,
            rf.spec.yaml_path,
            f"unknown macro #{use.name}#",
            hint,
        )
