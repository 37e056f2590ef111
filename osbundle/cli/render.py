"""Everything the command line shows people, in one place; machines get each value's JSON.

Validation reports are chosen by name (text, json, github: GitHub Actions workflow commands);
the rest is one function per command's human output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from osbundle.diagnostics import Diagnostic, format_doc_path

if TYPE_CHECKING:
    from osbundle.bundle.inspect import BundleInfo
    from osbundle.bundle.unpack import UnpackResult
    from osbundle.bundle.verify import VerifyReport
    from osbundle.jobs.record import Job
    from osbundle.model import BuildResult, Profile
    from osbundle.plan import Plan, PlannedMember
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


def error_json(message: str, exit_code: int) -> dict[str, Any]:
    """What every command with a machine format prints when it fails before its own document:
    the appliance's `result` and `messages` (a failed build's result has them too), and the code.
    """
    return {"result": "failed", "messages": [message], "exitCode": exit_code}


# -- build, plan -----------------------------------------------------------------------------


def build_text(result: BuildResult) -> str:
    return (
        f"built {result.path} ({result.members} members, {result.size:,} bytes, "
        f"{result.seconds:.2f} s)\n  sha256 {result.sha256}"
    )


def plan_text(plan: Plan) -> str:
    return "\n".join(plan_lines(plan.profile, plan.members, plan.total_bytes, plan.fingerprint))


def plan_lines(
    p: Profile, members: Iterable[PlannedMember], total_bytes: int, fingerprint: str
) -> Iterator[str]:
    """`osbundle plan`'s text, a line at a time (a plan may list a million members)."""
    yield f"profile  {p.id}  ({p.name}, {p.os.family} {p.os.release} {p.os.arch})"
    count = 0
    for m in members:
        origin = f"{m.source}{' (rendered)' if m.rendered else ''}" if m.source else "(generated)"
        yield f"  {m.mode:04o} {m.size:>12,}  {p.name}/{m.path}  <- {origin}"
        count += 1
    yield f"  + {p.name}/metadata.json, {p.name}/SHA256SUMS"
    yield f"{count} members, {total_bytes:,} bytes"
    yield f"fingerprint {fingerprint}"


def plan_json_lines(
    head: dict[str, Any], top: str, members: Iterable[PlannedMember]
) -> Iterator[str]:
    """`plan --json`, a line at a time: the text `json.dumps(indent=2)` makes of the whole plan
    (`head`'s keys, then `"members"`). Each member's lines are written by hand, as the
    indented encoder would (it is pure Python: 30 us a member)."""
    opening = json.dumps(head, indent=2, ensure_ascii=False).split("\n")
    yield from opening[:-2]
    yield opening[-2] + ","
    first = True
    for m in members:
        yield '  "members": [' if first else "    },"
        first = False
        yield "    {"
        yield f'      "path": {_json_string(f"{top}/{m.path}")},'
        yield f'      "kind": {_json_string(m.kind)},'
        yield f'      "source": {_json_string(m.source)},'
        yield f'      "size": {m.size:d},'
        yield f'      "mode": "{m.mode:04o}",'
        yield f'      "rendered": {"true" if m.rendered else "false"}'
    if first:
        yield '  "members": []'
    else:
        yield "    }"
        yield "  ]"
    yield "}"


_json_string = json.encoder.encode_basestring  # json.dumps(ensure_ascii=False) of a str


# -- the read side ---------------------------------------------------------------------------


def bundle_text(info: BundleInfo) -> str:
    """`inspect`: a summary, then one line per member."""
    return "\n".join(bundle_lines(info))


def bundle_lines(info: BundleInfo) -> Iterator[str]:
    """`bundle_text` a line at a time (a bundle may hold millions of members)."""
    from osbundle.bundle.tarread import show  # the read side, only for this command

    profile = info.metadata.get("profile", {})
    os_spec = profile.get("os", {})
    yield f"bundle:  {info.path.name}"
    yield f"profile: {profile.get('name', '')} ({profile.get('id', '')})"
    yield (
        f"os:      {os_spec.get('family', '')} {os_spec.get('release', '')} "
        f"{os_spec.get('arch', '')}"
    )
    yield (
        f"size:    {info.gzip_size} bytes gzip, {info.tar_size} bytes tar, "
        f"{info.member_count} members"
    )
    for m in info.members:
        yield f"{m.mode:04o} {m.size:>12} {m.kind:<9} {show(m.path)[1:-1]}"


def verify_lines(report: VerifyReport) -> list[str]:
    """One line when the bundle is fine, else one per problem."""
    if report.ok:
        return [f"{report.path}: OK ({report.checked} members verified)"]
    return [f"{report.path}: {problem}" for problem in report.problems]


def unpack_lines(result: UnpackResult) -> list[str]:
    return [
        f"unpacked {result.files} files into {result.dest}",
        f"same bytes again: SOURCE_DATE_EPOCH={result.source_date_epoch} "
        f"osbundle build {result.dest}",
    ]


# -- jobs ------------------------------------------------------------------------------------


def format_elapsed(seconds: float) -> str:
    whole = int(seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def jobs_table(jobs: Sequence[Job]) -> str:
    """One line per job: id, status, percentage, stage, elapsed, profile."""
    if not jobs:
        return "no jobs"
    header = f"{'JOB':>5}  {'STATUS':<18} {'%':>3}  {'STAGE':<8} {'ELAPSED':>8}  PROFILE"
    lines = [header]
    for j in jobs:
        lines.append(
            f"{j.job_id:>5}  {j.status:<18} {j.percentage:>3}  {j.stage:<8} "
            f"{format_elapsed(j.elapsed()):>8}  {j.profile}"
        )
    return "\n".join(lines)


def job_details(job: Job) -> str:
    """Everything about one job, messages included."""
    lines = [
        f"job {job.job_id}: {job.status} {job.percentage}%"
        + (f" ({job.stage})" if job.stage else "")
        + f", elapsed {format_elapsed(job.elapsed())}"
        + (" [background]" if job.background else ""),
        f"  profile  {job.profile}",
        f"  output   {job.output}",
        f"  created  {job.created}",
    ]
    if job.started:
        lines.append(f"  started  {job.started}")
    if job.ended:
        lines.append(f"  ended    {job.ended}")
    if job.bytes_total or job.files_total:
        lines.append(
            f"  archived {job.bytes_done:,} of {job.bytes_total:,} bytes, "
            f"{job.files_done} of {job.files_total} files"
        )
    lines.extend(f"  message  {m}" for m in job.messages)
    if job.result and job.result.get("filename"):
        lines.append(f"  bundle   {job.result['filename']}")
    return "\n".join(lines)


def jobs_text(jobs: Sequence[Job], *, named: bool, as_json: bool, indent: int | None = 2) -> str:
    """Named jobs in detail, else the table; or their appliance-like JSON list."""
    if as_json:
        return json.dumps([j.to_json() for j in jobs], indent=indent, ensure_ascii=False)
    if named:
        return "\n".join(job_details(j) for j in jobs)
    return jobs_table(jobs)


def cancel_line(job: Job) -> str:
    state = job.status if not job.active else f"cancel requested, still {job.status}"
    return f"job {job.job_id}: {state}"
