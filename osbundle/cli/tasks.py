"""`osbundle tasks`: list, show, watch, cancel, delete and prune jobs (mounted by app.py).

`osbundle tasks [JOBID[,JOBID...]]` is `osbundle tasks show ...`: a group whose first argument is
not a sub-command runs `show`, so job ids and sub-commands share one command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from osbundle.cli.render import cancel_line, jobs_text
from osbundle.errors import JobError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from osbundle.jobs.record import Job
    from osbundle.service import Service


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
    list[str],
    typer.Argument(metavar="JOBID...", show_default=False, help="Job ids: 12 13 or 12,13."),
]


@contextlib.contextmanager
def opened(state_dir: Path | None) -> Iterator[Service]:
    """The service, imported when a command runs: `osbundle --help` or `validate` need none of
    the job machinery (the job store, workers, destinations)."""
    from osbundle.service import open_service

    with open_service(state_dir) as service:
        yield service


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


@tasks_app.command("show")
def show(
    job_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="JOBID...", show_default=False, help="Job ids: 12 13 or 12,13."),
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
    with opened(state_dir) as service:
        if not watch:
            typer.echo(jobs_text(service.jobs(ids), named=bool(ids), as_json=as_json))
            return
        jobs = _watch(service, ids, as_json=as_json, interval=interval)
    if ids and any(j.status != "Complete" for j in jobs):
        raise typer.Exit(1)


def _watch(service: Service, ids: Sequence[str], *, as_json: bool, interval: float) -> list[Job]:
    redraw = sys.stdout.isatty() and not as_json and os.environ.get("TERM") != "dumb"
    previous = ""
    while True:
        jobs = service.jobs(ids)
        text = jobs_text(jobs, named=bool(ids), as_json=as_json, indent=None)
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
    errors: list[JobError] = []
    with opened(state_dir) as service:
        asked: list[str] = []
        for jid in parse_ids(job_ids):
            try:
                service.cancel(jid)
                asked.append(jid)
            except JobError as exc:
                errors.append(exc)
        for job in service.wait(asked, wait) if asked else []:
            typer.echo(cancel_line(job))
    _exit_on(errors)


@tasks_app.command("delete")
def delete(job_ids: JobIds, state_dir: StateDir = None) -> None:
    """Remove the records of ended jobs (not their bundles)."""
    errors: list[JobError] = []
    with opened(state_dir) as service:
        for jid in parse_ids(job_ids):
            try:
                service.delete(jid)
                typer.echo(f"deleted job {jid}")
            except JobError as exc:
                errors.append(exc)
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
    with opened(state_dir) as service:
        removed = service.prune(age)
    typer.echo(f"deleted {len(removed)} job record{'s' if len(removed) != 1 else ''}")


def _exit_on(errors: Sequence[JobError]) -> None:
    """One line per job that could not be done, then the worst code: an unknown id is bad
    input (2), a job in the wrong state a failed operation (1)."""
    for exc in errors:
        typer.echo(f"osbundle: error: {exc}", err=True)
    if errors:
        raise typer.Exit(max(exc.exit_code for exc in errors))
