"""`osbundle tasks`: list, show, watch, cancel, delete and prune jobs (mounted by cli.py).

`osbundle tasks [JOBID[,JOBID...]]` is `osbundle tasks show ...`: a group whose first argument is
not a sub-command runs `show`, so job ids and sub-commands share one command line.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from osbundle.errors import JobError
from osbundle.jobs.sqlite import Job, JobStore, open_store

WAIT_POLL_S = 0.1


class _ShowByDefault(TyperGroup):
    # ctx is typer's vendored click Context, which typer does not export under a public name.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["show", *args]
        return super().parse_args(ctx, args)


tasks_app = typer.Typer(
    cls=_ShowByDefault,
    help="Build jobs. `tasks [JOBID[,JOBID...]]` lists jobs or shows the named ones.",
    no_args_is_help=False,
    add_completion=False,
)

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="OSBUNDLE_HOME",
        help="Where the job store lives (default: the per-user state directory).",
    ),
]
JobIds = Annotated[
    list[str], typer.Argument(metavar="JOBID", show_default=False, help="Job ids: 12 13 or 12,13.")
]


def parse_ids(raw: Sequence[str]) -> list[str]:
    """`["12,13", "14"]` -> `["12", "13", "14"]`; BadParameter for anything but numbers."""
    ids: list[str] = []
    for item in ",".join(raw).split(","):
        part = item.strip()
        if not part:
            continue
        if not (part.isascii() and part.isdigit()):
            raise typer.BadParameter(f"not a job id: {part!r} (job ids are numbers like 12)")
        ids.append(str(int(part)))
    return list(dict.fromkeys(ids))


_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`7d`, `12h`, `1w2d`, `90s` -> timedelta; BadParameter otherwise."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not parts or _DURATION.sub("", compact).strip():
        raise typer.BadParameter(f"{text!r} is not a duration like 7d, 12h, 30m or 1w2d")
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))


def format_elapsed(seconds: float) -> str:
    whole = int(seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def format_table(jobs: Sequence[Job]) -> str:
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


def format_details(job: Job) -> str:
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


def render(jobs: Sequence[Job], *, named: bool, as_json: bool) -> str:
    if as_json:
        return json.dumps([j.to_json() for j in jobs], indent=2, ensure_ascii=False)
    if named:
        return "\n".join(format_details(j) for j in jobs)
    return format_table(jobs)


def _fetch(store: JobStore, ids: Sequence[str]) -> list[Job]:
    return store.get(ids) if ids else store.list_jobs()


@tasks_app.command("show")
def show(
    job_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="JOBID", show_default=False, help="Job ids: 12 13 or 12,13."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Appliance-like JSON list.")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh until the jobs end (exit 1 if one failed).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between refreshes.")
    ] = 0.5,
    state_dir: StateDir = None,
) -> None:
    """List jobs, or show the named ones: status, percentage, stage, elapsed, messages."""
    ids = parse_ids(job_ids or [])
    with open_store(state_dir) as store:
        if not watch:
            typer.echo(render(_fetch(store, ids), named=bool(ids), as_json=as_json))
            return
        jobs = _watch(store, ids, as_json=as_json, interval=interval)
    if ids and any(j.status != "Complete" for j in jobs):
        raise typer.Exit(1)


def _watch(store: JobStore, ids: Sequence[str], *, as_json: bool, interval: float) -> list[Job]:
    redraw = sys.stdout.isatty() and not as_json and os.environ.get("TERM") != "dumb"
    previous = ""
    while True:
        jobs = _fetch(store, ids)
        if as_json:
            text = json.dumps([j.to_json() for j in jobs], ensure_ascii=False)
        else:
            text = render(jobs, named=bool(ids), as_json=False)
        if redraw:
            typer.echo("\x1b[H\x1b[J" + text)
        elif _without_elapsed(text, jobs) != previous:
            typer.echo(text)
        previous = _without_elapsed(text, jobs)
        if not any(j.active for j in jobs):
            return jobs
        time.sleep(interval)


def _without_elapsed(text: str, jobs: Sequence[Job]) -> str:
    # What counts as a change worth a new line when not redrawing: anything but the clock.
    return json.dumps([{**j.to_json(), "elapsed": None} for j in jobs]) if jobs else text


@tasks_app.command("cancel")
def cancel(
    job_ids: JobIds,
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds to wait for jobs to stop (0: don't).")
    ] = 10.0,
    state_dir: StateDir = None,
) -> None:
    """Cancel running or pending jobs: the build stops, leaves no partial output, ends Cancelled."""
    ids = parse_ids(job_ids)
    errors: list[str] = []
    with open_store(state_dir) as store:
        asked: list[str] = []
        for jid in ids:
            try:
                store.request_cancel(jid)
                asked.append(jid)
            except JobError as exc:
                errors.append(str(exc))
        for job in _wait_for_end(store, asked, wait):
            state = job.status if not job.active else f"cancel requested, still {job.status}"
            typer.echo(f"job {job.job_id}: {state}")
    _exit_on(errors)


def _wait_for_end(store: JobStore, ids: Sequence[str], timeout: float) -> list[Job]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = store.get(ids) if ids else []
        if not any(j.active for j in jobs) or time.monotonic() >= deadline:
            return jobs
        time.sleep(WAIT_POLL_S)


@tasks_app.command("delete")
def delete(job_ids: JobIds, state_dir: StateDir = None) -> None:
    """Remove the records of ended jobs (not their bundles)."""
    errors: list[str] = []
    with open_store(state_dir) as store:
        for jid in parse_ids(job_ids):
            try:
                store.delete(jid)
                typer.echo(f"deleted job {jid}")
            except JobError as exc:
                errors.append(str(exc))
    _exit_on(errors)


@tasks_app.command("prune")
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of ended jobs to remove: 7d, 12h, 1w2d.")
    ] = "7d",
    state_dir: StateDir = None,
) -> None:
    """Remove the records of jobs that ended longer ago than --older-than."""
    age = parse_duration(older_than)
    with open_store(state_dir) as store:
        removed = store.prune(age)
    typer.echo(f"deleted {len(removed)} job record{'s' if len(removed) != 1 else ''}")


def _exit_on(errors: Sequence[str]) -> None:
    for message in errors:
        typer.echo(f"osbundle: error: {message}", err=True)
    if errors:
        raise typer.Exit(1)
