"""The whole build on one screen: a flat script of `verb_noun(ctx)` steps.

`prepare` is the part `plan` shares: load and check the profile, collect and render members.
The archive streams into an upload of the request's destination (destinations/), which makes
the bundle appear, with its `.sha256`, only when it is complete.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from osbundle.destinations.base import Destination, Upload
from osbundle.destinations.resolve import destination_for
from osbundle.gcpause import collector_paused
from osbundle.interrupts import signals_held
from osbundle.model import DEFAULT_EPOCH, BuildRequest, BuildResult, Member, MemberList, Profile
from osbundle.observer import BuildObserver, NullObserver
from osbundle.profile.validate import CheckedProfile, load_checked_profile
from osbundle.stages import archive, collect, export, render
from osbundle.stages.archive import Survey
from osbundle.tarstream.writer import ArchiveResult


@dataclass
class BuildContext:
    """What the steps hand to each other; each step fills in one field."""

    request: BuildRequest
    observer: BuildObserver
    job_id: str
    destination: Destination
    owned: contextlib.ExitStack  # what the steps opened that lives until the build ends
    started: float = field(default_factory=time.monotonic)
    prepared: Prepared | None = None
    upload: Upload | None = None
    archived: ArchiveResult | None = None


def build_bundle(
    request: BuildRequest,
    observer: BuildObserver | None = None,
    job_id: str = "",
    destination: Destination | None = None,
) -> BuildResult:
    """Build one bundle into `destination` (default: the request's). Raises InputError (bad
    profile), BuildError or Cancelled."""
    target = destination if destination is not None else destination_for(request)
    # The per-member records die with the context, before the collector resumes.
    with collector_paused(), contextlib.ExitStack() as owned:
        watch = observer or NullObserver()
        return run_steps(BuildContext(request, watch, job_id, target, owned))


def run_steps(ctx: BuildContext) -> BuildResult:
    prepare_members(ctx)
    try:
        open_upload(ctx)
        write_archive(ctx)
        publish_bundle(ctx)
    except BaseException:
        discard_upload(ctx)
        raise
    return build_result(ctx)


@dataclass(frozen=True)
class Prepared:
    """A checked profile and its payload members, as collected and as they will be archived
    (the same list but for the rendered members, which carry their bytes)."""

    profile: Profile
    collected: MemberList
    members: MemberList
    surveyed: Survey  # of `members`


@contextlib.contextmanager
def prepare(
    profile_dir: Path, observer: BuildObserver | None = None, spill_dir: Path | None = None
) -> Iterator[Prepared]:
    """Load the profile with every check `validate` makes, then collect and render members;
    a large profile's lists live in spill files in `spill_dir` until the context ends."""
    watch = observer or NullObserver()
    watch.stage("load")
    with load_checked_profile(profile_dir, spill_dir) as checked:
        watch.stage("collect")
        profile = checked.profile
        collected = collect.CollectedMembers(checked.files, profile.entries, checked.folders)
        special = [collect.member_for(rf) for rf in checked.special]
        watch.stage("render")
        rendered = render.render_list(checked.profile, collected, special)
        yield Prepared(profile, collected, rendered, survey_of(checked, special, rendered))


def survey_of(checked: CheckedProfile, special: list[Member], members: MemberList) -> Survey:
    """What the archive stage needs of `members`, from what the scan summed and the few
    special members (a rendered one at its rendered size), without a pass over the list."""
    rendered = members.rendered if isinstance(members, render.RenderedMembers) else {}
    final = [rendered.get(m.path, m) for m in special]
    size = checked.size + sum(f.size - m.size for f, m in zip(final, special, strict=True))
    unattend = sorted((m for m in final if m.kind == "unattend"), key=lambda m: m.path.encode())
    return Survey(len(members), size, tuple(unattend))


def prepare_members(ctx: BuildContext) -> None:
    spill_dir = spill_dir_of(ctx.request)
    ctx.prepared = ctx.owned.enter_context(
        prepare(ctx.request.profile_dir, ctx.observer, spill_dir)
    )


def spill_dir_of(request: BuildRequest) -> Path | None:
    """Where a build's temporary files go: beside the bundle, else the system's directory."""
    return request.outdir if request.outdir.is_dir() else None


def open_upload(ctx: BuildContext) -> None:
    epoch = ctx.request.source_date_epoch
    name = export.bundle_filename(
        the_prepared(ctx).profile.name, time.time() if epoch is None else epoch
    )
    with signals_held():  # until the claim is recorded here, for discard_upload
        ctx.upload = ctx.destination.open(name, ctx.job_id, force=ctx.request.force)


def write_archive(ctx: BuildContext) -> None:
    ctx.observer.stage("archive")
    epoch = ctx.request.source_date_epoch
    prepared = the_prepared(ctx)
    ctx.archived = archive.archive(
        prepared.profile,
        prepared.members,
        the_upload(ctx).file,
        mtime=DEFAULT_EPOCH if epoch is None else epoch,
        compression=ctx.request.compression,
        threads=ctx.request.threads or os.cpu_count() or 1,
        observer=ctx.observer,
        spill_dir=spill_dir_of(ctx.request),
        surveyed=prepared.surveyed,
    )


def publish_bundle(ctx: BuildContext) -> None:
    ctx.observer.stage("export")
    export.publish(the_upload(ctx), the_archive(ctx).sha256)


def discard_upload(ctx: BuildContext) -> None:
    if ctx.upload is not None:
        ctx.upload.discard()


def build_result(ctx: BuildContext) -> BuildResult:
    upload, archived = the_upload(ctx), the_archive(ctx)
    return BuildResult(
        filename=upload.name,
        job_id=ctx.job_id,
        result="success",
        messages=(),
        path=upload.location,
        sha256=archived.sha256,
        tar_sha256=archived.tar_sha256,
        size=archived.size,
        members=archived.members,
        seconds=time.monotonic() - ctx.started,
        compressor=archived.compressor,
    )


def the_prepared(ctx: BuildContext) -> Prepared:
    assert ctx.prepared is not None, "prepare_members runs first"
    return ctx.prepared


def the_upload(ctx: BuildContext) -> Upload:
    assert ctx.upload is not None, "open_upload runs first"
    return ctx.upload


def the_archive(ctx: BuildContext) -> ArchiveResult:
    assert ctx.archived is not None, "write_archive runs first"
    return ctx.archived
