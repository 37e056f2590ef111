"""The whole build on one screen: a flat script of `verb_noun(ctx)` steps.

`prepare` is the part `plan` shares: load and check the profile, collect and render members.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from osbundle.errors import BuildError
from osbundle.gcpause import collector_paused
from osbundle.interrupts import signals_held
from osbundle.model import BuildRequest, BuildResult, Member, Profile
from osbundle.observer import BuildObserver, NullObserver
from osbundle.profile.validate import load_checked_profile
from osbundle.stages import archive, collect, export, render
from osbundle.tarstream.writer import ArchiveResult


@dataclass
class BuildContext:
    """What the steps hand to each other; each step fills in one field."""

    request: BuildRequest
    observer: BuildObserver
    job_id: str
    started: float = field(default_factory=time.monotonic)
    profile: Profile | None = None
    members: tuple[Member, ...] = ()
    output: export.Output | None = None
    archived: ArchiveResult | None = None


def build_bundle(
    request: BuildRequest, observer: BuildObserver | None = None, job_id: str = ""
) -> BuildResult:
    """Build one bundle. Raises InputError (bad profile), BuildError or Cancelled."""
    # The per-member records die with the context, before the collector resumes.
    with collector_paused():
        return run_steps(BuildContext(request, observer or NullObserver(), job_id))


def run_steps(ctx: BuildContext) -> BuildResult:
    prepare_members(ctx)
    try:
        open_output(ctx)
        write_archive(ctx)
        commit_output(ctx)
    except BaseException:
        discard_output(ctx)
        raise
    return build_result(ctx)


@dataclass(frozen=True)
class Prepared:
    """A checked profile and its payload members, as collected and as they will be archived."""

    profile: Profile
    collected: tuple[Member, ...]
    members: tuple[Member, ...]  # rendered members carry their bytes


def prepare(profile_dir: Path, observer: BuildObserver | None = None) -> Prepared:
    """Load the profile with every check `validate` makes, then collect and render members."""
    watch = observer or NullObserver()
    watch.stage("load")
    checked = load_checked_profile(profile_dir)
    watch.stage("collect")
    collected = collect.collect(checked.files)
    watch.stage("render")
    return Prepared(checked.profile, collected, render.render(checked.profile, collected))


def prepare_members(ctx: BuildContext) -> None:
    prepared = prepare(ctx.request.profile_dir, ctx.observer)
    ctx.profile, ctx.members = prepared.profile, prepared.members


def open_output(ctx: BuildContext) -> None:
    epoch = ctx.request.source_date_epoch
    filename = export.bundle_filename(
        the_profile(ctx).name, time.time() if epoch is None else epoch
    )
    with signals_held():  # until the claim is recorded here, for discard_output
        ctx.output = export.open_output(
            ctx.request.outdir, filename, ctx.job_id, force=ctx.request.force
        )


def write_archive(ctx: BuildContext) -> None:
    ctx.observer.stage("archive")
    assert ctx.output is not None
    epoch = ctx.request.source_date_epoch
    try:
        ctx.archived = archive.archive(
            the_profile(ctx),
            ctx.members,
            ctx.output.file,
            mtime=export.DEFAULT_EPOCH if epoch is None else epoch,
            compression=ctx.request.compression,
            threads=ctx.request.threads or os.cpu_count() or 1,
            observer=ctx.observer,
        )
    except OSError as exc:  # the output side failed (disk full, I/O error): name the bundle
        raise BuildError(export.describe_os_error(exc, ctx.output.final)) from exc


def commit_output(ctx: BuildContext) -> None:
    ctx.observer.stage("export")
    assert ctx.output is not None
    assert ctx.archived is not None
    export.commit_output(ctx.output, ctx.archived.sha256, force=ctx.request.force)


def discard_output(ctx: BuildContext) -> None:
    if ctx.output is not None:
        export.discard_output(ctx.output)


def build_result(ctx: BuildContext) -> BuildResult:
    assert ctx.output is not None
    assert ctx.archived is not None
    archived = ctx.archived
    return BuildResult(
        filename=ctx.output.final.name,
        job_id=ctx.job_id,
        result="success",
        messages=(),
        path=str(ctx.output.final.resolve()),
        sha256=archived.sha256,
        tar_sha256=archived.tar_sha256,
        size=archived.size,
        members=len(archived.members),
        seconds=time.monotonic() - ctx.started,
        compressor=archived.compressor,
    )


def the_profile(ctx: BuildContext) -> Profile:
    assert ctx.profile is not None, "load_profile_step runs first"
    return ctx.profile
