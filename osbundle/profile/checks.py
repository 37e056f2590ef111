"""Checks that need the resolved files: unattend names, settings namespaces, macros, rendering.

They make the build's own decisions without building: the macro table comes from
`macros.settings.macro_table`, each file to render is read by `macros.render.read_template` and
rendered in memory by `macros.render.render_text` within one `RenderBudget`, exactly as the
render stage does (its output is only measured, then dropped), so `validate` fails wherever
`build` would: every value a format refuses, every rendered file that does not parse or would
be too large, every file it could not open for reading.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence

from osbundle.diagnostics import Diagnostic
from osbundle.errors import InputError, OsbundleError
from osbundle.kinds import RENDERED_KINDS, render_format
from osbundle.macros.grammar import MACRO_RE, RenderError, Scalar, find_macros, suggestion
from osbundle.macros.render import RenderBudget, TemplateError, read_template, render_text
from osbundle.macros.settings import SettingsFile, SettingsProblem, macro_table
from osbundle.model import Profile, ResolvedFile, SourceId
from osbundle.profile.load import Locate
from osbundle.profile.sources import spec_diagnostic


def collected(rf: ResolvedFile) -> SourceId:
    """The file a resolved file was found to be (every file the walk resolves has one)."""
    assert rf.origin is not None, "resolved files come from profile.sources"
    return rf.origin


def shown_path(rf: ResolvedFile) -> str:
    """The file as the user would name it: beside the profile file that declared it."""
    declared = str(rf.spec.position.file) if rf.spec.position else ""
    return os.path.normpath(os.path.join(os.path.dirname(declared), rf.rel_source))


def is_special(rf: ResolvedFile) -> bool:
    """Whether special_diagnostics reads the file: unattend, settings, or one to render."""
    kind = rf.spec.kind
    return kind in ("unattend", "settings") or (rf.spec.render and kind in RENDERED_KINDS)


def semantic_diagnostics(
    profile: Profile, files: Sequence[ResolvedFile], locate: Locate
) -> list[Diagnostic]:
    """`special_diagnostics` of the files it reads, and `unreadable` of the others."""
    out = special_diagnostics(profile, [rf for rf in files if is_special(rf)], locate)
    out.extend(d for rf in files if not is_special(rf) and (d := unreadable(rf)) is not None)
    return out


def special_diagnostics(
    profile: Profile, files: Sequence[ResolvedFile], locate: Locate
) -> list[Diagnostic]:
    """Unattend names, the settings files' macro table and every file to render, of the
    profile's unattend, settings and to-be-rendered files (`is_special`)."""
    out = list(_unattend_names(profile, files, locate))
    settings = [rf for rf in files if rf.spec.kind == "settings"]
    defined, problems = macro_table(profile, [settings_file(rf, shown_path(rf)) for rf in settings])
    out.extend(_settings_diagnostic(settings[p.index], p) for p in problems)
    budget = RenderBudget()
    for rf in files:
        if rf.spec.render and rf.spec.kind in RENDERED_KINDS:
            out.extend(_rendering(profile, rf, defined, budget))
        elif rf.spec.kind != "settings" and (unread := unreadable(rf)) is not None:
            out.append(unread)
    return out


def unreadable(rf: ResolvedFile) -> Diagnostic | None:
    """A file read only by the build (not rendered, not settings) that it could not read: one
    syscall, here rather than halfway through a build."""
    if os.access(rf.abs_path, os.R_OK):
        return None
    return spec_diagnostic(rf.spec, f"{rf.rel_source!r} is not readable")


def _unattend_names(
    profile: Profile, files: Sequence[ResolvedFile], locate: Locate
) -> Iterator[Diagnostic]:
    names: dict[str, ResolvedFile] = {}
    for rf in files:
        if rf.spec.kind != "unattend" or rf.name is None:
            continue
        first = names.setdefault(rf.name, rf)
        if first is not rf and first.spec is not rf.spec:
            yield spec_diagnostic(
                rf.spec, f"unattend name {rf.name!r} is already used by {first.rel_source!r}"
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


def settings_file(rf: ResolvedFile, shown: str) -> SettingsFile:
    """A resolved settings file as the macro table reads it; `shown` names it in messages."""
    return SettingsFile(rf.name or "", shown, rf.abs_path, collected(rf))


def _settings_diagnostic(rf: ResolvedFile, problem: SettingsProblem) -> Diagnostic:
    """A problem inside the file points into it; one with the file as a whole, at its entry."""
    if not problem.line:
        return spec_diagnostic(rf.spec, problem.message, hint=problem.hint)
    return Diagnostic(
        shown_path(rf), problem.line, problem.col, rf.spec.yaml_path, problem.message, problem.hint
    )


def _rendering(
    profile: Profile, rf: ResolvedFile, values: Mapping[str, Scalar], budget: RenderBudget
) -> Iterator[Diagnostic]:
    """Every undefined macro of a file to render; when there is none, what rendering it as the
    build does refuses first."""
    shown = shown_path(rf)
    try:
        text = read_template(rf.abs_path, collected(rf), shown)
    except TemplateError as exc:
        yield spec_diagnostic(rf.spec, f"{rf.rel_source!r}: {exc.message}", hint=exc.hint)
        return
    except OsbundleError as exc:  # unreadable, or changed since it was matched
        yield spec_diagnostic(rf.spec, str(exc))
        return
    if any(m.group(1) not in values for m in MACRO_RE.finditer(text)):  # no line_col if not
        yield from _unknown_macros(rf, shown, text, values.keys())
        return
    try:
        fmt = render_format(profile.os.family, rf.spec.kind, rf.bundle_path)
    except InputError:  # a name the family refuses: family_problems reported it
        return
    try:
        render_text(text, values, fmt, shown, budget)
    except RenderError as exc:
        if not exc.line:
            yield spec_diagnostic(rf.spec, f"{rf.rel_source!r}: {exc.reason}", hint=exc.hint)
        else:
            yield Diagnostic(shown, exc.line, exc.col, rf.spec.yaml_path, exc.reason, exc.hint)


def _unknown_macros(
    rf: ResolvedFile, shown: str, text: str, defined: Collection[str]
) -> Iterator[Diagnostic]:
    for use in find_macros(text):
        if use.name in defined:
            continue
        hint = suggestion(use.name, defined) or "define it in a settings file"
        yield Diagnostic(
            shown, use.line, use.col, rf.spec.yaml_path, f"unknown macro #{use.name}#", hint
        )
