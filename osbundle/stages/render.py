"""Render stage: substitute macros in the unattend files and scripts marked `rendered`.

The macro table is the profile's predefined values plus every settings member, whose
`name` is its namespace. Each file to render is read once (at most 16 MiB, UTF-8) and becomes a
member carrying the rendered bytes; every other member passes through unchanged.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from osbundle.errors import BuildError, InputError
from osbundle.macros.render import (
    RenderError,
    Scalar,
    load_settings,
    parse_settings,
    predefined_values,
    render_format,
    render_text,
)
from osbundle.model import Member, Profile

MAX_RENDER_BYTES = 16 * 1024 * 1024
RENDERED_KINDS = frozenset({"unattend", "script"})


def render(profile: Profile, members: Sequence[Member]) -> tuple[Member, ...]:
    """`members` with every member to render replaced by one holding its rendered bytes."""
    to_render = [m for m in members if needs_rendering(m)]
    if not to_render:
        return tuple(members)
    values = macro_table(profile, members)
    return tuple(render_member(profile, m, values) if needs_rendering(m) else m for m in members)


def needs_rendering(member: Member) -> bool:
    return member.rendered and member.kind in RENDERED_KINDS and member.data is None


def macro_table(profile: Profile, members: Sequence[Member]) -> dict[str, Scalar]:
    """Predefined values plus every settings member's macros; namespaces must be unique."""
    values = predefined_values(profile)
    owners: dict[str, str] = {}
    for m in members:
        if m.kind != "settings":
            continue
        shown = display_path(profile, m)
        namespace = m.name or ""
        if namespace in owners:
            raise InputError(
                f"{shown}: macro namespace `{namespace}` is already used by {owners[namespace]}"
            )
        owners[namespace] = shown
        if m.data is not None:
            values.update(parse_settings(namespace, m.data, shown))
        elif m.source is not None:
            values.update(load_settings(namespace, m.source, shown))
    return values


def render_member(profile: Profile, member: Member, values: Mapping[str, Scalar]) -> Member:
    assert member.source is not None
    shown = display_path(profile, member)
    raw = read_source(member, shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RenderError(
            f"{shown}: not UTF-8 text at byte {e.start} ({e.reason}); "
            "save it as UTF-8 or set `render: false`"
        ) from e
    fmt = render_format(profile.os.family, member.kind, member.path)
    data = render_text(text, values, fmt, shown).encode("utf-8")
    return replace(member, data=data, source=None, size=len(data), rendered=True)


def read_source(member: Member, shown: str) -> bytes:
    """The source's bytes, read once; it must still be the file collected (size and mtime)."""
    assert member.source is not None
    try:
        fd = os.open(member.source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise BuildError(f"{shown}: cannot read: {e.strerror or e}") from e
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BuildError(f"{shown}: is no longer a regular file")
        if info.st_size > MAX_RENDER_BYTES:
            raise RenderError(f"{shown}: files to render are at most 16 MiB (set `render: false`)")
        changed = info.st_size != member.size or (
            member.mtime_ns and info.st_mtime_ns != member.mtime_ns
        )
        if changed:
            raise BuildError(f"{shown}: changed since it was collected; build again")
        raw = f.read(MAX_RENDER_BYTES + 1)
    if len(raw) != member.size:
        raise BuildError(f"{shown}: changed while it was read; build again")
    return raw


def display_path(profile: Profile, member: Member) -> str:
    """How errors name a member's file: relative to the profile directory when inside it."""
    if member.source is None:
        return member.path
    source = Path(member.source)
    try:
        return source.relative_to(profile.root).as_posix()
    except ValueError:
        return str(source)
