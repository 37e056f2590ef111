"""Render validation results as text, JSON or GitHub Actions workflow commands."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from osbundle.bundle.tarread import show
from osbundle.diagnostics import Diagnostic, format_doc_path

if TYPE_CHECKING:
    from osbundle.bundle.inspect import BundleInfo
    from osbundle.profile.validate import ValidationRun

ReportFormat = Literal["text", "json", "github"]
FORMATS: tuple[ReportFormat, ...] = ("text", "json", "github")


def default_format(env: Mapping[str, str]) -> ReportFormat:
    """github inside GitHub Actions (annotations on the diff), text elsewhere."""
    return "github" if env.get("GITHUB_ACTIONS") == "true" else "text"


def render_report(run: ValidationRun, fmt: ReportFormat | str) -> str:
    """The whole run in `fmt`; text and github end with a one-line summary."""
    diagnostics = [d for r in run.reports for d in r.diagnostics]
    if fmt == "json":
        return json.dumps(_json_report(run), ensure_ascii=False, indent=2)
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    return "\n".join([*_lines(diagnostics, fmt), summary(run)])


def render_diagnostics(diagnostics: Iterable[Diagnostic], fmt: ReportFormat | str) -> str:
    """Just the diagnostic lines (text/github) or a JSON list, without a summary."""
    if fmt == "json":
        return json.dumps([diagnostic_json(d) for d in diagnostics], ensure_ascii=False, indent=2)
    return "\n".join(_lines(diagnostics, fmt))


def _lines(diagnostics: Iterable[Diagnostic], fmt: str) -> list[str]:
    if fmt == "github":
        return [github_line(d) for d in diagnostics]
    return [d.render() if d.severity == "error" else f"warning: {d.render()}" for d in diagnostics]


def summary(run: ValidationRun) -> str:
    """`validated 5 profiles: all valid` or `3 errors in 2 of 5 profiles`."""
    total = len(run.reports)
    errors = [sum(d.severity == "error" for d in r.diagnostics) for r in run.reports]
    warnings = sum(d.severity == "warning" for r in run.reports for d in r.diagnostics)
    tail = f", {_plural(warnings, 'warning')}" if warnings else ""
    if not any(errors):
        return f"validated {_plural(total, 'profile')}: all valid{tail}"
    failing = sum(1 for e in errors if e)
    return f"{_plural(sum(errors), 'error')} in {failing} of {_plural(total, 'profile')}{tail}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    return {
        "file": d.file,
        "line": d.line,
        "col": d.col,
        "path": format_doc_path(d.path),
        "message": d.message,
        "hint": d.hint,
    }


def _json_report(run: ValidationRun) -> dict[str, Any]:
    profiles = []
    for report in run.reports:
        errors = [diagnostic_json(d) for d in report.diagnostics if d.severity == "error"]
        warnings = [diagnostic_json(d) for d in report.diagnostics if d.severity == "warning"]
        profiles.append(
            {"file": report.file, "valid": not errors, "errors": errors, "warnings": warnings}
        )
    return {"valid": run.ok, "profiles": profiles}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    """A `::error file=...,line=...,col=...,title=osbundle::message` workflow command."""
    level = "error" if d.severity == "error" else "warning"
    message = f"{format_doc_path(d.path)}: {d.message}"
    if d.hint:
        message += f" (hint: {d.hint})"
    props = f"file={_escape_property(d.file)},line={d.line},col={d.col},title=osbundle"
    return f"::{level} {props}::{_escape_data(message)}"


def bundle_text(info: BundleInfo) -> str:
    """`inspect`: a summary, then one line per member."""
    profile = info.metadata.get("profile", {})
    os_spec = profile.get("os", {})
    lines = [
        f"bundle:  {info.path.name}",
        f"profile: {profile.get('name', '')} ({profile.get('id', '')})",
        f"os:      {os_spec.get('family', '')} {os_spec.get('release', '')} "
        f"{os_spec.get('arch', '')}",
        f"size:    {info.gzip_size} bytes gzip, {info.tar_size} bytes tar, "
        f"{info.member_count} members",
    ]
    lines += [f"{m.mode:04o} {m.size:>12} {m.kind:<9} {show(m.path)[1:-1]}" for m in info.members]
    return "\n".join(lines)
