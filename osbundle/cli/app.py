"""The command line: parse options, call the library (builds and jobs through service.py),
print (through render.py), exit. No build logic lives here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from osbundle import __version__
from osbundle.cli.outcome import debug_first, fail, unexpected_error, usage_error, wants_json
from osbundle.cli.progress import ProgressMode
from osbundle.cli.render import ReportFormat
from osbundle.cli.streams import echo, echo_all, silence
from osbundle.errors import InputError, OsbundleError
from osbundle.model import BuildRequest, BuildResult, Compression

app = typer.Typer(
    name="osbundle",
    help="Reproducible OS-deployment bundles from declarative profiles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DEBUG = False


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"osbundle {__version__}")
        raise typer.Exit


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    global DEBUG  # noqa: PLW0603  (one process-wide switch, read by main())
    DEBUG = debug


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH...", help="profile.yaml files or directories.")
    ],
    fmt: Annotated[
        ReportFormat | None,
        typer.Option("--format", "-f", help="text, json or github (default: github on Actions)."),
    ] = None,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed",
            help="PATHS are changed files (the pre-commit hook): check every profile under "
            "--root that depends on one of them (its profile.yaml, its bases, their files).",
        ),
    ] = False,
    root: Annotated[
        Path, typer.Option("--root", help="Where --changed looks for profiles.")
    ] = Path(),
) -> None:
    """Check profiles: YAML, schema, files, macros, collisions. Exit 0 valid, 1 invalid."""
    from osbundle.cli.render import default_format, render_report
    from osbundle.profile.validate import ValidationRun, check_paths

    if changed:
        from osbundle.profile.affected import affected_profiles

        files = affected_profiles(root, paths)
        run = check_paths(files) if files else ValidationRun(())
    else:
        run = check_paths(paths)
    chosen = fmt or default_format(os.environ)
    echo(render_report(run, chosen))
    raise typer.Exit(0 if run.ok else 1)


@app.command()
def plan(
    profile_dir: Annotated[
        Path, typer.Argument(metavar="PROFILE_DIR", help="A profile directory or profile.yaml.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what a build would do (members, sources, sizes, fingerprint); writes nothing."""
    from osbundle.cli.render import plan_json_lines, plan_lines
    from osbundle.plan import plan_head, plan_stream

    with plan_stream(profile_dir) as plan:  # every digest first: the fingerprint leads
        if as_json:
            head = plan_head(plan.profile, plan.fingerprint, plan.total_bytes)
            echo_all(plan_json_lines(head, plan.profile.name, plan.members()))
            return
        echo_all(plan_lines(plan.profile, plan.members(), plan.total_bytes, plan.fingerprint))


@app.command()
def build(
    profile_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="PROFILE_DIR...",
            help="Profile directories (a folder of profiles builds each).",
        ),
    ],
    outdir: Annotated[Path, typer.Option("--output-dir", "-o", help="Where bundles go.")] = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing bundle.")] = False,
    compression: Annotated[
        Compression, typer.Option("--compression", help="fast, default or best.")
    ] = "default",
    threads: Annotated[int, typer.Option("--threads", min=0, help="0: one per CPU.")] = 0,
    background: Annotated[
        bool, typer.Option("--background", help="Start the build as a job and return at once.")
    ] = False,
    progress: Annotated[
        ProgressMode, typer.Option("--progress", help="auto (a bar on a terminal), json, none.")
    ] = "auto",
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", envvar="OSBUNDLE_HOME", help="Job store directory."),
    ] = None,
) -> None:
    """Build a reproducible .tar.gz bundle (plus .sha256) from each profile, each as a job."""
    from osbundle.profile.validate import discover_profiles

    epoch = source_date_epoch(os.environ)
    check_output_dir(outdir)
    requests = [
        BuildRequest(
            profile_dir=profile_file.parent,
            outdir=outdir.absolute(),
            force=force,
            compression=compression,
            threads=threads,
            source_date_epoch=epoch,
        )
        for profile_file in discover_profiles(profile_dirs)
    ]
    if background:
        submit_jobs(requests, state_dir)
        return
    raise typer.Exit(build_all(requests, state_dir, progress, as_json=as_json))


def build_all(
    requests: list[BuildRequest], state_dir: Path | None, mode: ProgressMode, *, as_json: bool
) -> int:
    """Build each in the foreground and print its result; the worst exit code of them."""
    from osbundle.interrupts import cancel_on_signals

    worst = 0
    # One guard until the results are printed: a signal after a build completed is recorded
    # (the build settled), not an exit by the signal.
    with cancel_on_signals():
        for request in requests:
            try:
                result = build_now(request, state_dir, mode)
            except OsbundleError as exc:
                if len(requests) == 1 and not as_json:
                    raise
                worst = max(worst, exc.exit_code)
                result = BuildResult.failed(str(exc), exc.job_id)
                echo(f"osbundle: error: {naming_profile(request.profile_dir, exc)}", err=True)
            print_build_result(result, as_json=as_json)
    return worst


def naming_profile(profile_dir: Path, exc: OsbundleError) -> str:
    """The error of one of many builds names its profile once: most already start with a
    path inside it (`profiles/x/unattend/ks.cfg:19:218: ...`)."""
    message = str(exc)
    return message if message.startswith(f"{profile_dir}{os.sep}") else f"{profile_dir}: {message}"


def check_output_dir(outdir: Path) -> None:
    """`-o` naming a file, or a path under one, is a usage error before any job starts."""
    for candidate in (outdir, *outdir.absolute().parents):
        if candidate.is_dir():
            return
        if os.path.lexists(candidate):
            where = "" if candidate == outdir else f"{candidate} "
            raise InputError(f"--output-dir {outdir}: {where}is not a directory")


def build_now(request: BuildRequest, state_dir: Path | None, mode: ProgressMode) -> BuildResult:
    """One build as a foreground job; Ctrl-C, SIGTERM and SIGHUP cancel it cleanly."""
    from osbundle.cli.progress import make_progress
    from osbundle.interrupts import cancel_on_signals
    from osbundle.service import open_service

    with cancel_on_signals(), open_service(state_dir) as service:
        reporter = make_progress(mode)
        try:
            return service.run(request, observers=[reporter])
        finally:
            reporter.close()


def submit_jobs(requests: list[BuildRequest], state_dir: Path | None) -> None:
    from osbundle.service import open_service

    with open_service(state_dir) as service:
        for request in requests:
            started = BuildResult(filename="", job_id=service.submit(request), result="success")
            typer.echo(json.dumps(started.appliance_json()))


def print_build_result(result: BuildResult, *, as_json: bool) -> None:
    from osbundle.cli.render import build_text

    # The result is printed last: a closed stdout drops it and the exit code still tells.
    if as_json:
        echo(json.dumps(result.to_json(), ensure_ascii=False))
    elif result.result == "success":
        echo(build_text(result))


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(metavar="DIRECTORY", help="A folder of files to turn into a profile.")
    ],
    family: Annotated[str, typer.Option("--family", help="windows, rhel, sles, ubuntu or esxi.")],
    name: Annotated[str, typer.Option("--name", help="Profile name ([A-Za-z0-9._-]).")],
    release: Annotated[str | None, typer.Option("--release", help="OS release.")] = None,
    arch: Annotated[str, typer.Option("--arch", help="x86_64 or aarch64.")] = "x86_64",
) -> None:
    """Write a profile.yaml for an existing folder: drivers/, boot/, unattend/, scripts/, ..."""
    from osbundle.profile.scaffold import scaffold_profile
    from osbundle.profile.validate import check_paths

    target, notes = scaffold_profile(
        directory, family=family, name=name, release=release, arch=arch
    )
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    run = check_paths([target])
    if not run.ok:
        from osbundle.cli.render import render_report

        typer.echo(render_report(run, "text"), err=True)
        target.unlink()
        fail(f"the generated {target} did not validate; nothing written", 1)
    typer.echo(f"wrote {target}")


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="A .tar.gz bundle.")],
    fast: Annotated[bool, typer.Option("--fast", help="Check members with xxh3.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check a bundle against its .sha256, SHA256SUMS and metadata. Exit 1 on any mismatch."""
    from osbundle.bundle.verify import verify_bundle
    from osbundle.cli.render import verify_lines

    report = verify_bundle(bundle, fast=fast)
    if as_json:
        emit_json(report.to_json())
    else:
        for line in verify_lines(report):
            echo(line, err=not report.ok)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def inspect(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="A .tar.gz bundle.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show a bundle's metadata and members without extracting it. Exit 1 if it is malformed."""
    from osbundle.bundle.inspect import inspect_bundle
    from osbundle.cli.render import bundle_lines

    info = inspect_bundle(bundle)
    if as_json:  # written as made: a bundle may list millions of members
        if echo_all(info.json_chunks(), sep=""):
            echo("")
    else:
        echo_all(bundle_lines(info))
        for problem in info.problems:
            typer.echo(f"{info.path}: {problem}", err=True)
    raise typer.Exit(0 if info.ok else 1)


@app.command()
def unpack(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="A .tar.gz bundle.")],
    dest: Annotated[
        Path, typer.Argument(metavar="DEST", help="New profile directory (must not exist).")
    ],
) -> None:
    """Turn a bundle back into a profile directory that builds to the same bytes."""
    from osbundle.bundle.unpack import unpack_bundle
    from osbundle.cli.render import unpack_lines
    from osbundle.interrupts import cancel_on_signals

    with cancel_on_signals():  # SIGINT, SIGTERM, SIGHUP: Cancelled, the temporary tree removed
        result = unpack_bundle(bundle, dest)
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
        for line in unpack_lines(result):
            typer.echo(line)


from osbundle.cli.tasks import tasks_app  # noqa: E402  (sub-app registered after app exists)

app.add_typer(tasks_app, name="tasks")


class UsageCommand(TyperCommand):
    """Usage lines name arguments as the help does (`PROFILE_DIR...`): typer writes a required
    one in braces (`{PROFILE_DIR...}`), which reads as shell syntax."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # typer's vendored click Context
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


for _info in [*app.registered_commands, *tasks_app.registered_commands]:
    if _info.cls in (None, TyperCommand):
        _info.cls = UsageCommand


def emit_json(value: Any) -> None:
    echo(json.dumps(value, indent=2, ensure_ascii=False))


def main() -> None:
    """Console entry point: one-line errors and the documented exit codes, never a traceback."""
    machine = wants_json(sys.argv[1:])
    try:
        code = app(args=debug_first(sys.argv[1:]), standalone_mode=False)
    except typer.Abort:
        fail("interrupted", 130, machine=machine)
    except typer.TyperException as exc:  # click-style usage errors: message plus usage, exit 2
        usage_error(exc, machine=machine)
    except KeyboardInterrupt:
        if DEBUG:
            raise
        fail("interrupted", 130, machine=machine)
    except OsbundleError as exc:
        if DEBUG:
            raise
        fail(str(exc), exc.exit_code, machine=machine)
    except BrokenPipeError:
        # Output piped into `head` and the like: exit quietly, as other Unix tools do.
        silence(sys.stdout)
        silence(sys.stderr)
        raise SystemExit(1) from None
    except Exception as exc:  # a bug, or memory ran out: still one line, and how to see more
        if DEBUG:
            raise
        fail(unexpected_error(exc), 1, machine=machine)
    raise SystemExit(code if isinstance(code, int) else 0)


def source_date_epoch(environ: dict[str, str] | os._Environ[str]) -> int | None:
    raw = environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > 8_589_934_591:  # ustar's mtime field tops out at 8**11-1
        raise InputError(f"SOURCE_DATE_EPOCH={raw!r} is not a non-negative integer of seconds")
    return int(raw)
